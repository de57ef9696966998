"""Real concurrency: threads, each with its own database connection, committing for real.

On PostgreSQL the claim's row locks (select_for_update) decide; on SQLite, BEGIN
IMMEDIATE serializes the writers. Both must give exactly one booking.
"""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.tests.concurrency import run_together
from offers import locks, services
from offers.models import Offer, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, pass_hold, slot_start, waitlist
from waitlist import services as waitlist_services
from waitlist.models import WaitlistEntry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_thirty_simultaneous_yes_replies_book_exactly_one_offered_patient(provider, settings):
    settings.OFFER_BATCH_SIZE = 10
    entries = waitlist(20)
    slot = open_slot(provider)
    offers = live(slot)
    assert len(offers) == 10
    offered = {o.patient_id: o for o in offers}
    not_offered = [e.patient for e in entries if e.patient_id not in offered]
    # Every offered patient says YES twice, and ten who were not offered say YES too.
    patients = [o.patient for o in offers] * 2 + not_offered[:10]
    calls = [lambda p=p: (p.pk, handle_reply(patient=p, intent="yes")) for p in patients]

    answers = run_together(calls)

    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
    winner = Offer.objects.get(slot=slot, status="accepted")
    assert winner.patient_id in offered
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_entry_id == winner.entry_id
    assert WaitlistEntry.objects.filter(status="booked").count() == 1
    for patient_id, answer in answers:
        if patient_id == winner.patient_id:
            assert answer.template == "confirmation"
        elif patient_id in offered:
            assert answer.template == "already_filled"
        else:
            assert answer.template == "nothing_to_answer"
    assert live(slot) == []


@pytest.mark.parametrize("attempt", range(3))
def test_a_yes_racing_the_expiry_sweep_ends_consistent(provider, attempt):
    waitlist(3)
    slot = open_slot(provider)
    offers = live(slot)
    pass_hold(offers)  # the hold has just passed; the YES and the sweep arrive together
    racer = offers[0]

    claim, swept = run_together([
        lambda: services.offer_claim(patient=racer.patient),
        services.offers_expire_due,
    ])

    racer.refresh_from_db()
    slot.refresh_from_db()
    # The clock says the hold passed. The YES books only as a late YES, when nobody else
    # held the slot any more (the sweep had expired all three, and the slot had not yet
    # closed); otherwise it is told the hold ended. Either way, one consistent outcome.
    if claim.outcome == services.Outcome.BOOKED:
        assert racer.status == Offer.Status.ACCEPTED
        assert "nobody else held the slot" in racer.history.first().history_change_reason
        assert slot.status == Slot.Status.FILLED
        assert slot.filled_entry_id == racer.entry_id
    else:
        assert claim.outcome == services.Outcome.EXPIRED
        assert racer.status == Offer.Status.EXPIRED
        assert slot.status != Slot.Status.FILLED
        assert Offer.objects.filter(slot=slot, status="accepted").count() == 0
    # A sweep that found the slot locked by the claim skipped it (skip_locked on
    # PostgreSQL); the next sweep finishes the job, and nothing is expired twice.
    swept_next = services.offers_expire_due()
    assert 0 <= swept + swept_next <= 3
    booked = claim.outcome == services.Outcome.BOOKED
    assert Offer.objects.filter(pk__in=[o.pk for o in offers],
                                status="expired").count() == (2 if booked else 3)


def test_a_yes_inside_the_hold_racing_the_sweep_books(provider):
    waitlist(3)
    slot = open_slot(provider)
    offers = live(slot)
    pass_hold(offers[1:])
    claim, swept = run_together([
        lambda: services.offer_claim(patient=offers[0].patient),
        services.offers_expire_due,
    ])
    assert claim.outcome == services.Outcome.BOOKED
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert Offer.objects.get(pk=offers[0].pk).status == Offer.Status.ACCEPTED
    # Whatever the sweep reached first was expired, the rest superseded by the booking.
    assert set(Offer.objects.filter(pk__in=[o.pk for o in offers[1:]])
               .values_list("status", flat=True)) <= {"expired", "superseded"}


def test_a_duplicated_yes_from_one_patient_books_once(provider):
    waitlist(3)
    slot = open_slot(provider)
    patient = live(slot)[0].patient
    answers = run_together([lambda: handle_reply(patient=patient, intent="yes")] * 5)
    assert [a.template for a in answers] == ["confirmation"] * 5
    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
    assert WaitlistEntry.objects.filter(status="booked").count() == 1


def test_a_no_and_an_expiry_at_the_same_moment_start_exactly_one_next_batch(provider):
    waitlist(9)
    slot = open_slot(provider)
    first = live(slot)
    with_no, *expiring = first
    services.offer_decline(patient=expiring[0].patient)
    pass_hold([expiring[1]])
    run_together([
        lambda: services.offer_decline(patient=with_no.patient),
        lambda: services.offer_expire(offer_id=expiring[1].pk),
    ])
    slot.refresh_from_db()
    assert slot.current_batch == 2
    assert len(live(slot)) == 3
    assert {o.batch for o in live(slot)} == {2}


def _remove_unless_booked(entry):
    try:
        return waitlist_services.entry_remove(entry=entry, reason="Moved away")
    except ValidationError:
        return None  # the YES booked first: a booked entry is not "removed"


@pytest.mark.parametrize("attempt", range(3))
def test_a_yes_racing_the_removal_of_that_entry_ends_consistent(provider, attempt):
    # Real commits: the removal's after-commit news to the offer engine runs in its thread.
    waitlist(3)
    slot = open_slot(provider)
    racer = live(slot)[0]

    answer, _ = run_together([
        lambda: handle_reply(patient=racer.patient, intent="yes"),
        lambda: _remove_unless_booked(racer.entry),
    ])

    racer.refresh_from_db()
    slot.refresh_from_db()
    if answer.template == "confirmation":
        # The YES came first: the patient is booked; the removal came too late for it.
        assert racer.status == Offer.Status.ACCEPTED
        assert slot.status == Slot.Status.FILLED
        assert WaitlistEntry.objects.get(pk=racer.entry_id).status == "booked"
    else:
        # The removal came first: the YES cannot book, and is not told it still waits.
        assert answer.template == "offer_closed_off_waitlist"
        assert racer.status == Offer.Status.SUPERSEDED
        assert slot.status == Slot.Status.OFFERING
        assert Offer.objects.filter(slot=slot, status="accepted").count() == 0
    assert not Offer.objects.filter(pk=racer.pk, status__in=Offer.LIVE_STATUSES).exists()


@pytest.mark.postgres
def test_while_one_slot_is_busy_the_sweep_still_expires_its_providers_other_slots(provider):
    waitlist(6)
    busy = open_slot(provider, start=slot_start(hour=9))
    other = open_slot(provider, start=slot_start(hour=10))
    pass_hold(live(other))
    locked, release = threading.Event(), threading.Event()

    def a_long_claim_on_the_busy_slot():
        with transaction.atomic():
            locks.lock_slot(busy.pk)  # the lock every event on a slot takes first
            locked.set()
            release.wait(30)

    def the_sweep():
        assert locked.wait(30)
        try:
            return services.offers_expire_due()
        finally:
            release.set()

    _, expired = run_together([a_long_claim_on_the_busy_slot, the_sweep])

    # Before: the slot's lock also locked its provider's row, so the sweep's skip_locked
    # skipped every slot of that provider while one was busy.
    assert expired == 3
    assert not Offer.objects.filter(slot=other, batch=1, status__in=Offer.LIVE_STATUSES).exists()


# Round after round within seconds: the gap between texts would only make slots wait
# (test_fatigue.py races the caps themselves).
@pytest.mark.usefixtures("fatigue_caps_off")
@pytest.mark.postgres
def test_a_providers_eight_slots_opened_at_once_over_twenty_patients_all_end_booked_or_truly_unfilled(
        provider, settings):
    """A provider calls in sick: eight slots open at the same instant, each in its own
    connection, over twenty patients; then, round after round, everyone holding an offer
    answers at once (YES or NO, from a fixed seed). Every slot ends booked, or unfilled
    with nobody left who fits; never two bookings."""
    import datetime as dt
    import random

    from messaging.services import inbound_handle
    from offers.selectors import slot_fitting_entries

    settings.OFFER_BATCH_SIZE = 3
    chooser = random.Random(11)
    waitlist(20)
    starts = [slot_start(hour=8) + dt.timedelta(minutes=30 * i) for i in range(8)]
    slots = run_together([
        lambda s=s: services.slot_open(provider=provider, start=s,
                                       end=s + dt.timedelta(minutes=30))
        for s in starts])
    sids = iter(range(100_000))

    for _ in range(40):
        live_offers = list(Offer.objects.filter(status__in=Offer.LIVE_STATUSES)
                           .select_related("patient"))
        if not live_offers:
            break
        answers = [(offer.patient, "YES" if chooser.random() < 0.1 else "NO")
                   for offer in live_offers]
        run_together([
            lambda p=p, body=body, sid=f"SM{next(sids):032d}": inbound_handle(
                from_number=p.phone, to_number="+13125550100", body=body, sid=sid)
            for p, body in answers])

    assert not Offer.objects.filter(status__in=Offer.LIVE_STATUSES).exists()
    for slot in slots:
        slot.refresh_from_db()
        assert slot.status in (Slot.Status.FILLED, Slot.Status.UNFILLED), slot
        if slot.status == Slot.Status.FILLED:
            assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
        else:
            assert not slot_fitting_entries(slot=slot).exists(), slot
    filled = Slot.objects.filter(status="filled")
    assert filled.count() == WaitlistEntry.objects.filter(status="booked").count()
    assert len(set(filled.values_list("filled_entry__patient", flat=True))) == filled.count()
    assert filled.count() >= 1


# Round after round within seconds: the gap between texts would only make slots wait
# (test_fatigue.py races the caps themselves).
@pytest.mark.usefixtures("fatigue_caps_off")
@pytest.mark.postgres
def test_a_providers_eight_slots_with_a_fill_by_phone_its_undo_and_a_wrong_number_racing_the_replies(  # noqa: E501
        provider, settings):
    """The same day with staff and a stranger in it: while everyone holding an offer
    answers at once, staff fill one slot by phone for one of its holders (the fill frees
    the others for the waiting slots at once), undo it in the next round, fill another
    for someone not offered, and someone at a holder's number says it is a wrong number.
    Every slot still ends booked or truly unfilled, an undo gives back only offers still
    their patient's newest, and nothing is texted to the wrong number after it said so."""
    import datetime as dt
    import random

    from django.utils import timezone

    from messaging.models import Message
    from messaging.services import inbound_handle
    from offers.selectors import slot_fitting_entries

    settings.OFFER_BATCH_SIZE = 3
    chooser = random.Random(13)
    waitlist(20)
    starts = [slot_start(hour=8) + dt.timedelta(minutes=30 * i) for i in range(8)]
    slots = run_together([
        lambda s=s: services.slot_open(provider=provider, start=s,
                                       end=s + dt.timedelta(minutes=30))
        for s in starts])
    sids = iter(range(100_000))
    stranger = None

    def staff(call):
        try:
            return call()
        except ValidationError:  # the slot was taken by SMS a moment before: told so
            return None

    for round_ in range(40):
        live_offers = list(Offer.objects.filter(status__in=Offer.LIVE_STATUSES)
                           .select_related("patient", "entry").order_by("pk"))
        if not live_offers:
            break
        calls = []
        if round_ == 0:
            mine = live_offers[0]
            target = mine.slot
            calls.append(lambda e=mine.entry: staff(lambda: services.slot_mark_filled_by_phone(
                slot=target, by=None, entry=e)))
        elif round_ == 1:
            calls.append(lambda: staff(lambda: services.slot_phone_fill_undo(
                slot=target, by=None)))
        elif round_ == 2:
            other = next(s for s in slots if s.pk != target.pk)
            calls.append(lambda: staff(lambda: services.slot_mark_filled_by_phone(
                slot=other, by=None)))
        answers = []
        for offer in live_offers:
            if round_ == 3 and stranger is None:
                stranger = offer.patient
                answers.append((offer.patient, "wrong number"))
            elif round_ == 0 and offer.slot_id == target.pk:
                answers.append((offer.patient, "NO"))  # the fill by phone is not refused
            else:
                answers.append((offer.patient, "YES" if chooser.random() < 0.1 else "NO"))
        calls += [lambda p=p, body=body, sid=f"SM{next(sids):032d}": inbound_handle(
            from_number=p.phone, to_number="+13125550100", body=body, sid=sid)
            for p, body in answers]
        run_together(calls)
        if round_ == 3:
            reported = timezone.now()  # every transaction of the round has committed
        if round_ == 1:
            # Undone (or refused if SMS took the slot first): whatever came back is its
            # patient's newest offer, and one live offer each (a database constraint).
            for offer in Offer.objects.filter(slot=target, status__in=Offer.LIVE_STATUSES):
                assert offer.pk == Offer.objects.filter(
                    patient_id=offer.patient_id).latest("pk").pk

    assert target.history.filter(history_change_reason__endswith="Fill by phone undone").exists()
    settings.PHONE_FILL_UNDO_SECONDS = 0  # the window has passed: the fill is announced
    services.slots_phone_fill_announce_due()
    assert not Offer.objects.filter(status__in=Offer.LIVE_STATUSES).exists()
    for slot in slots:
        slot.refresh_from_db()
        assert slot.status in (Slot.Status.FILLED, Slot.Status.UNFILLED), slot
        if slot.status == Slot.Status.FILLED:
            assert Offer.objects.filter(slot=slot, status="accepted").count() <= 1
            if slot.filled_via == Slot.FilledVia.SMS:
                assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
        else:
            assert not slot_fitting_entries(slot=slot).exists(), slot
            assert not Offer.objects.filter(slot=slot, status="accepted").exists()
    filled = Slot.objects.filter(status="filled").exclude(filled_entry=None)
    assert filled.count() == WaitlistEntry.objects.filter(status="booked").count()
    assert len(set(filled.values_list("filled_entry__patient", flat=True))) == filled.count()
    # The wrong number: nothing booked from it, and nothing handed to Twilio for the
    # number once its report was recorded (a text crossing the reply in flight, decided
    # before that commit, may have left; none after).
    stranger.refresh_from_db()
    assert stranger.phone_wrong_at is not None
    assert not Offer.objects.filter(patient=stranger, status="accepted").exists()
    assert not Message.objects.filter(patient=stranger, direction="out",
                                      created_at__gt=reported,
                                      sent_at__isnull=False).exists()
