"""Reads behind the portal's pages. Each returns a bounded number of queries, whatever
the number of slots, offers or entries (tests/test_query_counts.py holds us to it)."""

import datetime as dt
import math
from collections import Counter, defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Case, IntegerField, Prefetch, Q, Value, When
from django.utils import timezone

from clinic import roles
from clinic.models import Patient
from messaging.models import Message
from offers.models import WRONG_NUMBER, Offer, Slot
from offers.rules import local_start
from offers.services import phone_fill_undo_until, sms_hours_open
from offers.staff_picks import slot_ranked_candidates
from portal.audit import audit_trail_for_patient

TODAY_PAGE_SIZE = 12

# Why an unfilled slot closed, as the card says it: the model's own words (the admin's
# too, one vocabulary), then what to do.
_REASON = Slot.UnfilledReason
UNFILLED_WHY = {
    _REASON.TOO_SOON: f"{_REASON.TOO_SOON.label}: nobody was texted. Call patients.",
    _REASON.NOBODY_FITS: f"{_REASON.NOBODY_FITS.label}, so nobody was texted. It is offered "
                         "by itself if someone who fits joins.",
    _REASON.NOBODY_TOOK_IT: f"{_REASON.NOBODY_TOOK_IT.label}. Call patients.",
    _REASON.NOT_OFFERED: f"{_REASON.NOT_OFFERED.label}: the clinic's rule for this provider "
                         "or visit type says not to offer it by text. Call patients.",
    # Closed before reasons were recorded.
    _REASON.NONE: "Nobody on the waitlist took it. Call patients.",
}


# --- Today --------------------------------------------------------------------
def offer_state(offer: Offer) -> tuple[str, str]:
    """What the front desk wants to know about an offer: (label, badge style). The words
    are the model's own (Offer.status_label), the admin's too; an offer on hold also says
    whether its text was delivered, in the message log's words."""
    status = offer.status
    if (label := offer.status_label) == WRONG_NUMBER:
        # Ended because someone else has the patient's number (they said so by SMS).
        return label, "bad"
    if status == Offer.Status.SENT:
        delivered = any(m.status == Message.Status.DELIVERED for m in offer.offer_messages)
        failed = any(m.status in (Message.Status.FAILED, Message.Status.UNDELIVERED)
                     for m in offer.offer_messages)
        if failed:
            return Message.Status.UNDELIVERED.label, "bad"
        return ("Delivered, on hold" if delivered else offer.get_status_display()), "info"
    style = {
        Offer.Status.ACCEPTED: "ok",
        Offer.Status.EXPIRED: "warn",
        Offer.Status.FAILED: "bad",
    }.get(status, "")
    return offer.get_status_display(), style


def sms_hours_label() -> str:
    """SMS_SEND_HOURS as staff read it: '8:00 AM–8:00 PM'."""
    start, end = settings.SMS_SEND_HOURS
    if start == dt.time(0, 0) and end is None:
        return "any time"
    def fmt(t):
        return dt.datetime.combine(dt.date.today(), t).strftime("%-I:%M %p")
    return f"{fmt(start)}–{fmt(end) if end else 'midnight'}"


def _offer_messages() -> Prefetch:
    """Each offer's outgoing offer texts, as `offer.offer_messages`, for offer_state()."""
    return Prefetch("messages", to_attr="offer_messages",
                    queryset=Message.objects.filter(direction=Message.Direction.OUT,
                                                    kind="offer"))


def today_slots_page(*, page_number) -> Page:
    """Slots from the start of today on, the ones still offering first."""
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    offers = (Offer.objects.select_related("patient", "entry").prefetch_related(_offer_messages())
              .order_by("batch", "-score", "id"))
    slots = (
        Slot.objects.filter(Q(start__gte=midnight) | Q(status=Slot.Status.OFFERING))
        .select_related("provider__location", "location", "appointment_type",
                        "filled_entry__patient", "chained_from__provider",
                        "chained_from__filled_entry__patient", "chained_to")
        .prefetch_related(Prefetch("offers", queryset=offers, to_attr="offer_list"))
        .annotate(open_first=Case(When(status=Slot.Status.OFFERING, then=Value(0)),
                                  default=Value(1), output_field=IntegerField()))
        .order_by("open_first", "start", "id")
    )
    page = Paginator(slots, TODAY_PAGE_SIZE).get_page(page_number)
    texting_hours = sms_hours_open()
    for slot in page.object_list:
        live = [o for o in slot.offer_list if o.is_live]
        slot.live_count = len(live)
        slot.undo_until = phone_fill_undo_until(slot)
        # Offering, nothing out: the engine says why it waits (its patients hold other
        # offers, or texting hours are closed); staff should see that it waits, and for
        # what, not that it is stuck.
        slot.waits_for_texting_hours = slot.is_open and not live and (
            slot.waiting_for == Slot.WaitingFor.TEXTING_HOURS or not texting_hours)
        slot.waits_for_busy_patients = slot.is_open and not live and (
            slot.waiting_for == Slot.WaitingFor.BUSY_PATIENTS)
        slot.winner = next((o for o in slot.offer_list if o.status == Offer.Status.ACCEPTED),
                           None)
        # Unfilled, or offering with nobody holding an offer and no reason to wait.
        slot.needs_attention = slot.status == Slot.Status.UNFILLED or (
            slot.is_open and slot.current_batch > 0 and not live
            and not slot.waits_for_texting_hours and not slot.waits_for_busy_patients
        )
        slot.unfilled_why = UNFILLED_WHY.get(slot.unfilled_reason, UNFILLED_WHY[""])
        # Clinic rules (docs/rules.md): its location's clock; why it waits; staff picks.
        slot.zone = local_start(slot).tzinfo
        slot.other_zone = str(slot.zone) != settings.TIME_ZONE
        slot.waits_for_rule = slot.is_open and not live and slot.waiting_for in (
            Slot.WaitingFor.LEAD_TIME, Slot.WaitingFor.APPROVAL)
        slot.ranked = (slot_ranked_candidates(slot=slot) if slot.is_open
                       and slot.waiting_for == Slot.WaitingFor.STAFF_PICKS else [])
        if slot.ranked:
            slot.needs_attention = True
        for offer in slot.offer_list:
            offer.state_label, offer.state_style = offer_state(offer)
        _chain_annotate(slot)
    return page


def _chain_annotate(slot: Slot) -> None:
    """Chain fills (ehr/chain.py) as Today shows them: `chain_to`, the later appointment
    this booking freed; `later_to_cancel`, the date of a later appointment the patient
    still holds that could not be freed here (staff typed it, the EHR never named it)."""
    try:
        slot.chain_to = slot.chained_to
    except Slot.DoesNotExist:
        slot.chain_to = None
    entry = slot.filled_entry
    slot.later_to_cancel = (
        entry.current_appointment_at
        if slot.status == Slot.Status.FILLED and slot.filled_via == Slot.FilledVia.SMS
        and slot.chain_to is None and entry is not None
        and entry.current_appointment_at is not None
        and entry.current_appointment_at > slot.start else None)


# --- Patient page ---------------------------------------------------------------
def patient_messages_page(*, patient: Patient, page_number, per_page: int = 30) -> Page:
    """Newest first for paging; the template shows each page oldest-first, like a phone."""
    messages = Message.objects.filter(patient=patient).order_by("-created_at", "-id")
    page = Paginator(messages, per_page).get_page(page_number)
    page.thread = list(reversed(page.object_list))
    return page


def patient_offers_page(*, patient: Patient, page_number, per_page: int = 10) -> Page:
    """The patient's offers, newest first, labelled as on the Today page."""
    offers = (Offer.objects.filter(patient=patient)
              .select_related("slot__provider", "slot__appointment_type")
              .prefetch_related(_offer_messages())
              .order_by("-created_at", "-id"))
    page = Paginator(offers, per_page).get_page(page_number)
    for offer in page.object_list:
        offer.patient = patient  # the page's own: no query per offer
        offer.state_label, offer.state_style = offer_state(offer)
    return page


def patient_entries_page(*, patient: Patient, page_number, per_page: int = 10) -> Page:
    """The patient's waitlist entries, newest first."""
    entries = (patient.waitlist_entries.select_related("appointment_type")
               .prefetch_related("providers").order_by("-added_at", "-id"))
    return Paginator(entries, per_page).get_page(page_number)


def patient_audit_page(*, patient: Patient, page_number, per_page: int = 15) -> Page:
    """The patient's audit trail (their record, entries, offers, booked slots), newest
    first. One patient's history is small, so it is read whole and paged here."""
    return Paginator(audit_trail_for_patient(patient), per_page).get_page(page_number)


# --- Reports ----------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with `fraction` of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def fill_report(*, weeks: int, provider=None) -> dict:
    """Fill statistics for slots that started in the last `weeks` weeks (through today).

    Two queries whatever the volume: the slots' few columns, and the offer count.
    """
    now = timezone.localtime()
    week_start = (now - dt.timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0)
    since = week_start - dt.timedelta(weeks=weeks - 1)
    slots = Slot.objects.filter(start__gte=since, start__lt=week_start + dt.timedelta(weeks=1))
    if provider is not None:
        slots = slots.filter(provider=provider)
    slots = slots.exclude(status=Slot.Status.WITHDRAWN)
    rows = list(slots.values_list("status", "start", "created_at", "closed_at",
                                  "provider__name", "filled_via"))
    offers = Offer.objects.filter(slot__in=slots.filter(status=Slot.Status.FILLED)).count()
    # Bookings that staff approved or declined, or that still await approval (a clinic
    # rule's approval mode, docs/rules.md).
    approvals = Counter(Offer.objects.filter(slot__in=slots, reserved_at__isnull=False)
                        .values_list("status", flat=True))

    filled = [r for r in rows if r[0] == Slot.Status.FILLED]
    unfilled = [r for r in rows if r[0] == Slot.Status.UNFILLED]
    minutes = [(r[3] - r[2]).total_seconds() / 60 for r in filled if r[3] and r[2]]
    decided = len(filled) + len(unfilled)

    per_week = {since + dt.timedelta(weeks=i): Counter() for i in range(weeks)}
    per_provider: dict[str, Counter] = defaultdict(Counter)
    for status, start, *_rest, provider_name, _via in rows:
        local = timezone.localtime(start)
        monday = (local - dt.timedelta(days=local.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0)
        if monday in per_week:
            per_week[monday][status] += 1
        per_provider[provider_name][status] += 1

    return {
        "since": since,
        "slots": len(rows),
        "filled": len(filled),
        "filled_by_sms": sum(1 for r in filled if r[5] == Slot.FilledVia.SMS),
        "unfilled": len(unfilled),
        "open": sum(1 for r in rows if r[0] == Slot.Status.OFFERING),
        "fill_rate": (len(filled) / decided) if decided else None,
        "median_minutes": percentile(minutes, 0.5),
        "p90_minutes": percentile(minutes, 0.9),
        "offers_per_fill": (offers / len(filled)) if filled else None,
        "approved": approvals[Offer.Status.ACCEPTED],
        "declined_by_staff": approvals[Offer.Status.DECLINED],
        "pending_approval": approvals[Offer.Status.RESERVED],
        "weeks": [(monday, c[Slot.Status.FILLED], c[Slot.Status.UNFILLED])
                  for monday, c in per_week.items()],
        "providers": sorted(
            ((name, c[Slot.Status.FILLED], c[Slot.Status.UNFILLED])
             for name, c in per_provider.items()),
            key=lambda row: (-(row[1] + row[2]), row[0]),
        ),
    }


# --- SMS simulator ------------------------------------------------------------------
def simulator_patients_page(*, page_number, per_page: int = 20) -> Page:
    """Live offers, oldest first: the patients a demo most likely wants to answer as."""
    offers = (Offer.objects.filter(status__in=Offer.LIVE_STATUSES)
              .select_related("patient", "slot__provider")
              .order_by("sent_at", "id"))
    return Paginator(offers, per_page).get_page(page_number)


def simulator_ringing_call(*, patient: Patient | None) -> Message | None:
    """A simulated call to the patient that nobody has answered yet (console backend:
    it rings until the simulator answers it)."""
    if patient is None:
        return None
    return (Message.objects.filter(patient=patient, channel=Message.Channel.VOICE,
                                   direction=Message.Direction.OUT, sent_at__isnull=True,
                                   status__in=(Message.Status.ACCEPTED, Message.Status.SENT),
                                   error_code="")
            .order_by("-created_at", "-id").first())


# --- Staff ------------------------------------------------------------------------------
def staff_page(*, page_number, per_page: int = 25) -> Page:
    """Every user account, active ones first, each with `role` (Admin, Manager, Front desk
    or None) and `is_admin`, from the groups of clinic/roles.py."""
    users = (get_user_model().objects.prefetch_related("groups")
             .order_by("-is_active", "username"))
    page = Paginator(users, per_page).get_page(page_number)
    for user in page.object_list:
        names = {group.name for group in user.groups.all()}
        user.is_admin = user.is_superuser or roles.ADMIN in names
        user.role = next((role for role in (roles.ADMIN, roles.MANAGER, roles.FRONT_DESK)
                          if role in names), roles.ADMIN if user.is_admin else None)
    return page
