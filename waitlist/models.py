"""Waitlist entries: who wants an earlier appointment, with whom, and when."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.models import AppointmentType, Location, Patient, Provider


class WaitlistEntry(models.Model):
    """One appointment a patient wants sooner.

    A patient with two active entries wants two appointments (two different visits, e.g.
    a follow-up with Dr. Chen and a scan with anyone): each entry is offered, and booked,
    on its own, and booking one leaves the other waiting. Two active entries of one
    patient for the same visit (same appointment type, overlapping providers, same
    person) are refused (waitlist.services.entry_add). The phone number's owner is
    `patient`; `for_name` names a family member sharing that phone when the visit is
    theirs. What keeps it safe: a patient holds at most one live offer (so a bare YES is
    never ambiguous), is never offered one slot twice, and is never offered a slot that
    overlaps one they are booked into through this system.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting"
        BOOKED = "booked", "Booked"
        REMOVED = "removed", "Removed"

    class Source(models.TextChoices):
        PORTAL = "portal", "Staff portal"
        EHR = "ehr", "EHR (FHIR API)"
        ADMIN = "admin", "Django admin"

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="waitlist_entries",
        help_text="Whose phone the offers go to. Fixed once offers were made.")
    for_name = models.CharField(
        max_length=160, blank=True, verbose_name="visit for",
        help_text="Who the visit is for when it is not the phone's owner (a family member "
                  "sharing the phone). Blank: the patient themself.")
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
        return f"{self.who} ({self.get_status_display()})"

    @property
    def who(self) -> str:
        """The person the visit is for, as staff read it: "Leo (Ana Lopez's phone)"."""
        if self.for_name:
            return f"{self.for_name} ({self.patient.full_name}'s phone)"
        return self.patient.full_name

    @property
    def first_name(self) -> str:
        """The first name an SMS about this entry greets (a first name only: privacy)."""
        if self.for_name.strip():
            return self.for_name.split()[0]
        return self.patient.first_name


class CheckIn(models.Model):
    """A check-in text to a patient whose entry has waited WAITLIST_CHECK_IN_DAYS: "still
    want an earlier appointment?" (waitlist/checkins.py, docs/how-offers-work.md). YES
    keeps the entry and restarts its clock; NO, or no answer within
    WAITLIST_CHECK_IN_REPLY_HOURS, takes it off the list (audited on the entry). One text
    asks about all of a patient's entries that are due, so `message` may be shared."""

    class Status(models.TextChoices):
        ASKED = "asked", "Asked, no answer yet"
        KEPT = "kept", "Stays on the list"
        LEFT = "left", "Replied NO: off the list"
        LAPSED = "lapsed", "No answer: off the list"
        # The entry stopped waiting otherwise (booked, removed), the text never left, or
        # the patient opted out: nothing was decided by this check-in.
        CLOSED = "closed", "Closed without an answer"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE,
                              related_name="check_ins")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ASKED)
    asked_at = models.DateTimeField(default=timezone.now)
    answer_by = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey("messaging.Message", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "waitlist check-in"
        ordering = ["-asked_at", "-id"]
        indexes = [models.Index(fields=["status", "answer_by"], name="checkin_status_due")]
        constraints = [
            # Two beat runs at once never ask one entry twice (waitlist/checkins.py).
            models.UniqueConstraint(fields=["entry"], condition=Q(status="asked"),
                                    name="one_open_check_in_per_entry"),
        ]

    def __str__(self):
        return f"Check-in of entry {self.entry_id} ({self.get_status_display()})"
