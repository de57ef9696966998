"""Waitlist entries: who wants an earlier appointment, with whom, and when."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.models import AppointmentType, Location, Patient, Provider


class WaitlistEntry(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting"
        BOOKED = "booked", "Booked"
        REMOVED = "removed", "Removed"

    class Source(models.TextChoices):
        PORTAL = "portal", "Staff portal"
        EHR = "ehr", "EHR (FHIR API)"
        ADMIN = "admin", "Django admin"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="waitlist_entries")
    # any_provider=True: the patient takes whoever has a free slot; else one of `providers`.
    any_provider = models.BooleanField(default=False)
    providers = models.ManyToManyField(Provider, blank=True, related_name="waitlist_entries")
    # Null: any location (or the clinic has only one).
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT)
    # Null: any appointment type.
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.PROTECT
    )
    earliest_date = models.DateField(null=True, blank=True)
    latest_date = models.DateField(null=True, blank=True)
    urgent = models.BooleanField(default=False)
    boost = models.PositiveSmallIntegerField(
        default=0, help_text="Manual boost, 0 to 40 points, set by a manager with a reason."
    )
    # The appointment the patient already holds, if any: we only offer earlier slots.
    current_appointment_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PORTAL)
    comment = models.TextField(blank=True)
    # The EHR's own id for this request (FHIR Appointment.identifier), for idempotent updates.
    ehr_identifier_system = models.CharField(max_length=255, blank=True)
    ehr_identifier_value = models.CharField(max_length=255, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords(m2m_fields=[providers])

    class Meta:
        verbose_name = "waitlist entry"
        verbose_name_plural = "waitlist entries"
        ordering = ["added_at"]
        permissions = [("prioritize_waitlistentry", "Can set urgent flag and manual boost")]
        indexes = [models.Index(fields=["status", "added_at"], name="waitlist_status_added")]
        constraints = [
            models.CheckConstraint(condition=Q(boost__gte=0) & Q(boost__lte=40),
                                   name="waitlist_boost_0_to_40"),
            models.CheckConstraint(
                condition=Q(earliest_date__isnull=True)
                | Q(latest_date__isnull=True)
                | Q(earliest_date__lte=F("latest_date")),
                name="waitlist_earliest_before_latest",
            ),
            models.UniqueConstraint(
                fields=["ehr_identifier_system", "ehr_identifier_value"],
                condition=~Q(ehr_identifier_value=""),
                name="waitlist_ehr_identifier_unique",
            ),
        ]

    def __str__(self):
        return f"{self.patient} ({self.get_status_display()})"
