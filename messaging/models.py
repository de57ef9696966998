"""The message log: every SMS in and out, and every call and keypress, kept for audit.

`python manage.py dumpdata messaging` exports it for an auditor (see CONTRACT.md).
"""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.lib.phones import mask_phone
from clinic.models import Patient


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "Received"
        OUT = "out", "Sent"

    class Status(models.TextChoices):
        # Outbound, in the order they may happen; statuses only move forward.
        QUEUED = "queued", "Queued"  # recorded, not yet handed to the SMS backend
        SENDING = "sending", "Sending"  # handed to the backend, answer not known yet
        ACCEPTED = "accepted", "Accepted by Twilio"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Not delivered"
        FAILED = "failed", "Failed"
        # Outbound messages we decided not to send (patient opted out meanwhile).
        SUPPRESSED = "suppressed", "Not sent"
        # Inbound.
        RECEIVED = "received", "Received"

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        # A phone call (messaging/voice.py): outbound, the call and what it said;
        # inbound, what the patient pressed or said on it.
        VOICE = "voice", "Voice call"

    direction = models.CharField(max_length=3, choices=Direction.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    # Outbound: the template that made it (offer, confirmation, ...). Inbound: what the
    # reply was understood as (yes, no, opt_out, ...).
    kind = models.CharField(max_length=40, blank=True)
    twilio_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # What the message is about, for whoever sent it (the offer engine: an offer). The
    # channel stores it and hands it back, never interprets it: a generic reference, so
    # messaging names no model of the apps that use it.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set by purge_messages: the body was replaced, the audit facts kept.
    body_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "created_at"], name="message_patient_time"),
                   models.Index(fields=["subject_type", "subject_id"], name="message_subject")]
        constraints = [
            models.CheckConstraint(
                condition=Q(direction__in=["in", "out"]), name="message_direction_valid"
            )
        ]

    def __str__(self):
        arrow = "←" if self.direction == self.Direction.IN else "→"
        return f"{arrow} {self.kind or 'reply'} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def first_status(self) -> str:
        """The status the message was recorded with. It has no MessageStatusEvent of its
        own (the row's creation is that record; events are the changes after it), which
        saves the busy inbound webhook two inserts. Inbound messages are received; a
        reply sent in the webhook's TwiML answer is handed over at once (sent_at set,
        never attempted by our sender, and without a SID it gets no callbacks, so its
        status never changes); every other outbound message starts queued."""
        if self.direction == self.Direction.IN:
            return self.Status.RECEIVED
        if self.attempts == 0 and self.sent_at is not None:
            return self.status
        return self.Status.QUEUED

    def status_history(self) -> list[tuple[str, str, object]]:
        """(status, error code, when) from the recording on, oldest first."""
        return [(self.first_status, "", self.created_at)] + [
            (event.status, event.error_code, event.at) for event in self.status_events.all()]


class MessageStatusEvent(models.Model):
    """Each status change Twilio (or our sender) reported after the message was recorded,
    with when: with Message.first_status at created_at, the message's history."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=10, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class OptedOutNumber(models.Model):
    """A number that texted STOP while it belonged to no patient.

    Kept so that a patient created later with this number (FHIR API, portal) is not
    texted despite that STOP: message_send refuses it and moves the opt-out onto the
    patient. START or UNSTOP from the number removes it.
    """

    phone = models.CharField(max_length=20, unique=True, help_text="E.164")
    at = models.DateTimeField("opted out at", default=timezone.now)

    class Meta:
        ordering = ["-at"]
        verbose_name = "opted-out number"

    def __str__(self):
        return f"{mask_phone(self.phone)} opted out {self.at:%Y-%m-%d %H:%M}"
