"""The clinic's reference data: locations, providers, appointment types, patients."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.lib.phones import display_phone, mask_phone


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name such as America/New_York.")


class Location(models.Model):
    name = models.CharField(max_length=120, unique=True)
    address = models.CharField(max_length=255, blank=True)
    # Texting hours, the times in texts and on Today are this location's (TCPA quiet
    # hours are the recipient's local time). Blank: the clinic's, CLINIC_TIME_ZONE.
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone],
        help_text="IANA name, e.g. America/New_York. Blank: the clinic's time zone.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)


class Provider(models.Model):
    name = models.CharField(max_length=120)
    # The EHR's identifier for this provider (FHIR Identifier system + value), e.g. an NPI.
    identifier_system = models.CharField(max_length=255, blank=True)
    identifier_value = models.CharField(max_length=120, blank=True)
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="providers"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["identifier_system", "identifier_value"],
                condition=~Q(identifier_value=""),
                name="provider_identifier_unique",
            )
        ]

    def __str__(self):
        return self.name


class AppointmentType(models.Model):
    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    duration_minutes = models.PositiveSmallIntegerField(default=20)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Patient(models.Model):
    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        SPANISH = "es", "Spanish"

    class OfferChannel(models.TextChoices):
        """How slots are offered to the patient (docs/voice.md): a text, a phone call
        (a landline, or someone who never reads texts), or a text and, when its hold
        passes unanswered, a call if there is still time."""

        SMS = "sms", "Text (SMS)"
        VOICE = "voice", "Phone call"
        SMS_THEN_VOICE = "sms_then_voice", "Text, then a call"

    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    phone = models.CharField(
        max_length=20, unique=True, help_text="Mobile number in E.164, e.g. +13125550142."
    )
    preferred_language = models.CharField(
        max_length=5, choices=Language.choices, default=Language.ENGLISH
    )
    offer_channel = models.CharField(
        "offers by", max_length=16, choices=OfferChannel.choices, default=OfferChannel.SMS,
        help_text="Set to a call automatically when Twilio reports the number cannot "
                  "receive texts (a landline).")
    # Set when the patient texts STOP (or Twilio reports 21610); cleared by START.
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    # Set when Twilio reports the number invalid or not a mobile (21211, 21614).
    phone_invalid_at = models.DateTimeField(null=True, blank=True)
    # Set when someone at this number replied that it is not the patient's ("wrong
    # number", "I'm not Ana"): nothing is texted to it until staff correct the phone.
    phone_wrong_at = models.DateTimeField(
        "wrong number reported at", null=True, blank=True,
        help_text="Someone at this number said it is not this patient's. Correct the phone "
                  "to text them again.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            # E.164: "+", a country code that never starts with 0, at most 15 digits. Inbound
            # SMS looks patients up by this exact form, so "+1 312 555 0142" must never land.
            models.CheckConstraint(
                condition=Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"), name="patient_phone_e164"
            )
        ]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def sms_opted_out(self) -> bool:
        return self.sms_opted_out_at is not None

    @property
    def can_receive_sms(self) -> bool:
        return (self.sms_opted_out_at is None and self.phone_invalid_at is None
                and self.phone_wrong_at is None)

    @property
    def offered_by_call(self) -> bool:
        return self.offer_channel == self.OfferChannel.VOICE

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    @property
    def phone_display(self) -> str:
        return display_phone(self.phone)
