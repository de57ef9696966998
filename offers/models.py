"""Open slots freed by cancellations, and the offers that fill them."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.models import AppointmentType, Location, Patient, Provider
from waitlist.models import WaitlistEntry


class Slot(models.Model):
    class Status(models.TextChoices):
        OFFERING = "offering", "Offering"
        FILLED = "filled", "Filled"
        UNFILLED = "unfilled", "Unfilled"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Source(models.TextChoices):
        PORTAL = "portal", "Staff portal"
        EHR = "ehr", "EHR (FHIR API)"
        ADMIN = "admin", "Django admin"
        # Freed by a chain fill: its patient took an earlier slot (ehr/chain.py).
        CHAIN = "chain", "Chain fill: its patient took an earlier slot"

    class FilledVia(models.TextChoices):
        SMS = "sms", "SMS offer"
        PHONE = "phone", "Staff, by phone"

    class WaitingFor(models.TextChoices):
        """Why a slot that is still offering has no offer out (blank: it has, or it is
        between two batches for the blink of a transaction)."""

        NOTHING = "", "Not waiting"
        BUSY_PATIENTS = "busy_patients", "Waiting: its patients hold other offers"
        TEXTING_HOURS = "texting_hours", "Waiting for texting hours"
        # Clinic rules (offers/rules.py, docs/rules.md).
        LEAD_TIME = "lead_time", "Waiting: too far ahead to offer yet (clinic rule)"
        APPROVAL = "approval", "Waiting for staff to approve a booking"
        STAFF_PICKS = "staff_picks", "Waiting for staff to choose who is texted"

    class UnfilledReason(models.TextChoices):
        NONE = "", "No reason recorded"
        TOO_SOON = "too_soon", "Starts too soon to offer by text"
        NOBODY_FITS = "nobody_fits", "Nobody on the waitlist fits it"
        NOBODY_TOOK_IT = ("nobody_took_it",
                          "Everyone on the waitlist who fits was offered it; nobody took it")
        NOT_OFFERED = "not_offered", "Not offered by rule"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="slots")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT)
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.PROTECT
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PORTAL)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The batch now out (0 before the first one is sent).
    current_batch = models.PositiveSmallIntegerField(default=0)
    filled_via = models.CharField(max_length=10, choices=FilledVia.choices, blank=True)
    filled_entry = models.ForeignKey(
        WaitlistEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="filled_slots"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # An offering slot with no offer out says why (busy patients, texting hours); the
    # engine sends its batch as soon as that changes. See docs/how-offers-work.md.
    waiting_for = models.CharField(max_length=16, choices=WaitingFor.choices, blank=True,
                                   default=WaitingFor.NOTHING)
    unfilled_reason = models.CharField(max_length=16, choices=UnfilledReason.choices,
                                       blank=True, default=UnfilledReason.NONE)
    # The EHR's own id for the cancelled appointment, for idempotent posts.
    ehr_identifier_system = models.CharField(max_length=255, blank=True)
    ehr_identifier_value = models.CharField(max_length=255, blank=True)
    # A chain fill (docs/how-offers-work.md, "Chain fills"): the slot whose booking freed
    # this one, the later appointment its patient held. One booking frees at most one.
    chained_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="chained_to",
        help_text="The earlier slot whose booking freed this appointment (a chain fill).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        # Total (the id breaks ties): the engine walks slots and offers in a repeatable
        # order, so two runs of the same events do the same things.
        ordering = ["start", "id"]
        permissions = [("view_reports", "Can view fill reports")]
        indexes = [models.Index(fields=["status", "start"], name="slot_status_start")]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
            models.CheckConstraint(
                condition=~Q(status="filled") | ~Q(filled_via=""),
                name="slot_filled_says_how",
            ),
            models.UniqueConstraint(
                fields=["ehr_identifier_system", "ehr_identifier_value"],
                condition=~Q(ehr_identifier_value=""),
                name="slot_ehr_identifier_unique",
            ),
            models.CheckConstraint(condition=Q(waiting_for="") | Q(status="offering"),
                                   name="slot_only_an_offering_slot_waits"),
            models.CheckConstraint(condition=Q(unfilled_reason="") | Q(status="unfilled"),
                                   name="slot_unfilled_reason_only_when_unfilled"),
        ]

    def __str__(self):
        local = timezone.localtime(self.start)
        return f"{self.provider} {local:%a %b %-d %-I:%M %p}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OFFERING


# How an offer ended by a wrong-number reply reads (Offer.status_label).
WRONG_NUMBER = "Wrong number"
# How an offer by phone call reads while the call rings.
CALLING = "Calling"


class KeptMessages(GenericRelation):
    """The texts about an object (messaging's generic subject), which outlive it: the
    message log is evidence, so deleting an offer leaves its messages, only unlinked
    (offers.apps: a post_delete), as the old foreign key's SET_NULL did. Django's own
    GenericRelation would delete them with it."""

    def bulk_related_objects(self, objs, using="default"):
        return []


class Offer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"  # created; the SMS is not out yet
        SENT = "sent", "Sent, on hold"  # the hold clock is running
        # The portal and the admin both show these words (one vocabulary, plain).
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Hold expired"
        FAILED = "failed", "Failed to send"
        SUPERSEDED = "superseded", "Closed"  # the slot was taken, withdrawn or filled by phone
        # The patient said YES to a slot whose rule asks staff to approve bookings
        # (offers/approval.py): reserved for them until staff approve or decline.
        RESERVED = "reserved", "Awaiting approval"

    LIVE_STATUSES = (Status.PENDING, Status.SENT)

    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="offers")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.PROTECT, related_name="offers")
    # Copied from entry.patient so the database can enforce one live offer per patient.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="offers")
    batch = models.PositiveSmallIntegerField()
    # Rank score at the moment the offer was made, for the audit trail.
    score = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    hold_until = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    # Approval (offers/approval.py): when the YES reserved the slot, and, for a YES that
    # came while another patient's booking awaited approval, when they became next in line.
    reserved_at = models.DateTimeField(null=True, blank=True)
    next_in_line_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Its texts: `offer.messages`, and `Message.objects.filter(offer__slot=...)`.
    messages = KeptMessages("messaging.Message", content_type_field="subject_type",
                            object_id_field="subject_id", related_query_name="offer")

    history = HistoricalRecords()

    class Meta:
        ordering = ["slot", "batch", "-score", "id"]
        indexes = [
            models.Index(fields=["status", "hold_until"], name="offer_status_hold"),
        ]
        constraints = [
            # The worst bug this product could have: two patients told they got one slot.
            models.UniqueConstraint(
                fields=["slot"], condition=Q(status="accepted"), name="one_accepted_offer_per_slot"
            ),
            # A patient holds at most one live offer, so a bare YES is never ambiguous
            # (a booking awaiting approval counts: they are not offered another meanwhile).
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["pending", "sent", "reserved"]),
                name="one_live_offer_per_patient",
            ),
            models.UniqueConstraint(
                fields=["slot"], condition=Q(status="reserved"),
                name="one_reserved_offer_per_slot"),
            # Nobody is offered the same slot twice, even a patient with two entries.
            models.UniqueConstraint(fields=["slot", "patient"],
                                    name="one_offer_per_slot_and_patient"),
        ]

    def __str__(self):
        return f"Offer of {self.slot} to {self.patient} ({self.status_label})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def status_label(self) -> str:
        """The status in the words staff read on Today, the patient page and the admin
        alike. An offer that failed because someone else has the patient's number (they
        said so by SMS, messaging's wrong-number flow) says "Wrong number": its text was
        sent, so "Failed to send" would not be true."""
        wrong_at = self.patient.phone_wrong_at
        if self.status == self.Status.FAILED and wrong_at and self.updated_at >= wrong_at:
            return WRONG_NUMBER
        if self.status == self.Status.PENDING and self.patient.offer_channel == "voice":
            return CALLING  # the call rings; the hold starts when it is answered
        return self.get_status_display()


class OfferRule(models.Model):
    """How the clinic wants slots of one provider, appointment type and location offered
    (each blank: all). The most specific rule that matches a slot applies
    (offers/rules.py, docs/rules.md); without one, the settings do."""

    class BookingMode(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic: a YES books the slot"
        APPROVAL = "approval", "Approval: a YES reserves it until staff approve"
        STAFF_PICKS = "staff_picks", "Staff picks: staff choose who is texted"

    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE,
                                 help_text="Blank: every provider.")
    appointment_type = models.ForeignKey(AppointmentType, null=True, blank=True,
                                         on_delete=models.CASCADE,
                                         help_text="Blank: every appointment type.")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.CASCADE,
                                 help_text="Blank: every location.")
    offer_by_text = models.BooleanField(
        default=True, help_text="Off: these slots are recorded but never offered by text.")
    min_lead_minutes = models.PositiveIntegerField(
        "minimum lead time (minutes)", null=True, blank=True,
        help_text="Not offered when the slot starts sooner than this. Blank: the default.")
    max_lead_hours = models.PositiveIntegerField(
        "maximum lead time (hours)", null=True, blank=True,
        help_text="Offered only once the slot is at most this far ahead. Blank: no limit.")
    batch_size = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Offers per batch. Blank: the policy chooses.")
    hold_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Hold of each offer. Blank: the policy chooses.")
    texting_from = models.TimeField(null=True, blank=True,
                                    help_text="Texting hours, the location's local time. "
                                              "Blank: the default hours.")
    texting_until = models.TimeField(null=True, blank=True)
    booking_mode = models.CharField(max_length=12, choices=BookingMode.choices,
                                    default=BookingMode.AUTOMATIC)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["provider__name", "appointment_type__name", "location__name", "id"]

    def __str__(self):
        return " · ".join([str(self.provider or "All providers"),
                           str(self.appointment_type or "All appointment types"),
                           str(self.location or "All locations")])
