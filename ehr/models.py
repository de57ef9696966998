"""The EHR integration's records: API keys and SMART clients (only hashes of their keys and
tokens are stored), the HL7 message log, and what the HL7 feed taught us about patients."""

import hashlib
import secrets

from django.db import models
from django.utils import timezone

KEY_PREFIX = "sfk_"


def key_hash(raw_key: str) -> str:
    # The keys are 256 random bits, so a fast hash is enough: there is nothing to guess.
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=120, unique=True,
                            help_text="Who uses this key, e.g. the EHR system's name.")
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, *, name: str) -> tuple["ApiKey", str]:
        """Create a key; the raw key is returned once and never stored."""
        api_key = cls(name=name)
        raw_key = api_key.set_new_key()
        api_key.save()
        return api_key, raw_key

    def set_new_key(self) -> str:
        raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.hashed_key = key_hash(raw_key)
        return raw_key

    @classmethod
    def authenticate(cls, raw_key: str) -> "ApiKey | None":
        api_key = cls.objects.filter(hashed_key=key_hash(raw_key), revoked_at=None).first()
        if api_key is not None:
            api_key.last_used_at = timezone.now()
            cls.objects.filter(pk=api_key.pk).update(last_used_at=api_key.last_used_at)
        return api_key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


# --- HL7 v2 feed ----------------------------------------------------------------------

class Hl7Message(models.Model):
    """Every readable HL7 message the listener received, with the ACK it got (the audit log).

    A message applied (AA) is kept once per sender and control id (MSH-10): a re-send is
    acknowledged again and only counted. One refused (AE/AR) is kept each time it comes,
    so a message fixed at the source and sent again with the same id is applied then.
    """

    class Ack(models.TextChoices):
        ACCEPTED = "AA", "Applied (AA)"
        ERROR = "AE", "Refused: content (AE)"
        REJECTED = "AR", "Refused: not handled (AR)"

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    peer = models.CharField(max_length=100, blank=True, help_text="The sender's address.")
    sending_application = models.CharField(max_length=180, blank=True)
    sending_facility = models.CharField(max_length=180, blank=True)
    control_id = models.CharField("control id (MSH-10)", max_length=199, blank=True)
    message_type = models.CharField(max_length=20, blank=True, help_text="e.g. SIU^S15")
    raw = models.TextField("message", help_text="As received, segments on their own lines.")
    ack_code = models.CharField("ACK", max_length=2, choices=Ack.choices)
    # What happened (AA) or why not (AE/AR), as sent back in MSA-3/ERR.
    outcome = models.TextField(blank=True)
    repeats = models.PositiveIntegerField(default=0, help_text="Re-sends acknowledged again.")
    last_received_at = models.DateTimeField(null=True, blank=True)
    # `purge_hl7_messages` blanks old messages (they hold names and numbers), keeping the rest.
    raw_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "HL7 message"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                condition=models.Q(ack_code="AA"),
                name="hl7_applied_once_per_control_id",
            )
        ]

    def __str__(self):
        return f"{self.message_type or 'HL7'} {self.control_id} ({self.ack_code})"


class PatientIdentifier(models.Model):
    """The EHR's id of a patient (PID-3, e.g. the MRN): how ADT updates find them after
    their phone number changed. Learnt from messages that matched the patient by phone."""

    patient = models.ForeignKey("clinic.Patient", on_delete=models.CASCADE,
                                related_name="ehr_identifiers")
    system = models.CharField(max_length=180, blank=True, help_text="assigning authority")
    value = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "value"],
                                               name="ehr_patient_identifier_unique")]

    def __str__(self):
        return f"{self.system}|{self.value}"


class HeldAppointment(models.Model):
    """An appointment a waitlisted patient holds in the EHR (SIU S12/S13/S14): the earliest
    one still ahead is the entry's current appointment, which offers must beat. When the
    patient takes an earlier slot by SMS, it is freed and offered in turn (a chain fill,
    ehr/chain.py): that needs its provider and end, recorded since chain fills came (rows
    from before have none and are not chained)."""

    entry = models.ForeignKey("waitlist.WaitlistEntry", on_delete=models.CASCADE,
                              related_name="held_appointments")
    identifier_system = models.CharField(max_length=255)
    identifier_value = models.CharField(max_length=255)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    provider = models.ForeignKey("clinic.Provider", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    appointment_type = models.ForeignKey("clinic.AppointmentType", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["entry", "identifier_system", "identifier_value"],
            name="held_appointment_once_per_entry")]

    def __str__(self):
        return f"{self.identifier_value} at {self.start:%Y-%m-%d %H:%M}"


# --- SMART Backend Services -----------------------------------------------------------

SMART_TOKEN_PREFIX = "sft_"


def new_client_id() -> str:
    return secrets.token_urlsafe(24)


class SmartClient(models.Model):
    """A backend service allowed to ask for access tokens with a signed JWT (private_key_jwt).

    Its public keys are a JWK Set stored here, or fetched from `jwks_url` (and cached).
    """

    name = models.CharField(max_length=120, unique=True)
    client_id = models.CharField(max_length=64, unique=True, editable=False,
                                 default=new_client_id)
    jwks = models.JSONField("JWK Set", null=True, blank=True,
                            help_text='The public keys, {"keys": [...]}.')
    jwks_url = models.URLField("JWKS URL", blank=True,
                               help_text="Or where the client publishes them (https).")
    scopes = models.CharField(max_length=500, help_text=(
        "What the client may ask for, separated by spaces: system/Appointment.read, "
        "system/Appointment.write (or SMART v2 system/Appointment.rs, .cud)."))
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_token_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SMART client"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SmartToken(models.Model):
    """One access token issued (the audit of every grant). Only a hash of it is stored;
    `assertion_jti` makes a replayed assertion fail on the unique constraint."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="tokens")
    hashed_token = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.CharField(max_length=500)
    assertion_jti = models.CharField(max_length=255)
    issued_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    peer = models.CharField(max_length=100, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SMART access token"
        ordering = ["-issued_at"]
        constraints = [models.UniqueConstraint(fields=["client", "assertion_jti"],
                                               name="smart_assertion_used_once")]

    def __str__(self):
        return f"{self.client} at {self.issued_at:%Y-%m-%d %H:%M:%S}"
