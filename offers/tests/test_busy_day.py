"""A day, not a slot: several slots open at once over the same few patients. No slot closes
while the patients who fit it are only busy with other offers; it waits, says so, and is
offered the moment one of them is free, soonest slot first. (Issue 11, item 1.)"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from offers import services
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, slot_start, waitlist
from offers.tests.factories import SlotFactory
from waitlist import services as waitlist_services
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

# One patient is offered several slots within minutes here (conftest.fatigue_caps_off).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fatigue_caps_off")]


def three_slots(provider, commit):
    """Three slots of one provider, an hour apart, opened within a minute."""
    with commit():
        return [open_slot(provider, start=slot_start(hour=9 + i)) for i in range(3)]


def refreshed(slots):
    for slot in slots:
        slot.refresh_from_db()
    return slots


def test_a_slot_whose_patients_all_hold_other_offers_waits_instead_of_closing(
        provider, commit):
    waitlist(4)
    first, second, third = three_slots(provider, commit)

    refreshed([first, second, third])
    assert (len(live(first)), len(live(second)), len(live(third))) == (3, 1, 0)
    # Before: "unfilled" at once, though all four patients fit it.
    assert third.status == Slot.Status.OFFERING
    assert third.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    assert "Everyone who fits" in third.history.first().history_change_reason


def test_when_the_first_slots_patients_all_say_no_the_waiting_slots_get_them_at_once(
        provider, commit):
    waitlist(4)
    first, second, third = three_slots(provider, commit)
    first_batch = live(first)

    with commit():
        for offer in first_batch:
            services.offer_decline(patient=offer.patient)

    refreshed([first, second, third])
    # Nobody closed: the third slot got a freed patient right away (not at a sweep), and
    # the first waits for the one patient it has not asked, who holds the second's offer.
    assert {s.status for s in (first, second, third)} == {Slot.Status.OFFERING}
    assert len(live(third)) == 3
    assert {o.patient_id for o in live(third)} == {o.patient_id for o in first_batch}
    assert first.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    assert live(first) == []
    # The second slot's patient says NO: the first slot, which waited for them, gets them.
    with commit():
        services.offer_decline(patient=live(second)[0].patient)
    assert live(first)[0].patient_id not in {o.patient_id for o in first_batch}
    # ... and the second slot, whose other patients all hold the third's offers, waits.
    refreshed([second])
    assert second.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    assert Offer.objects.filter(status__in=Offer.LIVE_STATUSES).count() == 4


def test_staff_offering_a_waiting_slot_are_told_its_patients_are_busy_not_that_none_fit(
        provider, commit, front_desk_user):
    waitlist(4)
    *_, third = three_slots(provider, commit)

    with pytest.raises(ValidationError) as refused:
        services.slot_offer_more(slot=third, by=front_desk_user)

    assert "holds another offer" in refused.value.messages[0]
    assert "No one else" not in refused.value.messages[0]


def test_a_waiting_slot_closes_unfilled_as_soon_as_nobody_who_fits_is_left(provider, commit):
    (only,) = waitlist(1)
    with commit():
        open_slot(provider, start=slot_start(hour=9))
        later = open_slot(provider, start=slot_start(hour=11))
    later.refresh_from_db()
    assert later.waiting_for == Slot.WaitingFor.BUSY_PATIENTS

    # The one patient who fits takes the sooner slot: nobody is left for the later one.
    with commit():
        assert services.offer_claim(patient=only.patient).outcome == services.Outcome.BOOKED

    later.refresh_from_db()
    assert later.status == Slot.Status.UNFILLED
    assert later.unfilled_reason == Slot.UnfilledReason.NOBODY_FITS
    assert later.waiting_for == ""


def test_a_patient_several_waiting_slots_want_is_offered_the_soonest_first(provider, commit,
                                                                            settings):
    settings.OFFER_BATCH_SIZE = 1
    (busy,) = waitlist(1)
    with commit():
        holding = open_slot(provider, start=slot_start(days=4))
        # Opened later but starting sooner, so the rule, not the order, decides.
        late = open_slot(provider, start=slot_start(days=3, hour=15))
        soon = open_slot(provider, start=slot_start(days=2, hour=9))
    assert live(holding)[0].patient_id == busy.patient_id
    assert refreshed([late])[0].waiting_for == Slot.WaitingFor.BUSY_PATIENTS

    with commit():
        services.offer_decline(patient=busy.patient)

    assert [o.slot_id for o in Offer.objects.filter(patient=busy.patient,
                                                     status__in=Offer.LIVE_STATUSES)] == [soon.pk]
    assert refreshed([late])[0].waiting_for == Slot.WaitingFor.BUSY_PATIENTS


def test_every_way_an_offer_ends_wakes_the_slots_waiting_for_its_patient(
        provider, commit, front_desk_user, settings):
    settings.OFFER_BATCH_SIZE = 1
    entries = waitlist(1)
    patient = entries[0].patient
    endings = {
        "expiry": lambda offer: (Offer.objects.filter(pk=offer.pk).update(
            hold_until=timezone.now() - dt.timedelta(seconds=1)),
            services.offer_expire(offer_id=offer.pk)),
        "withdrawn": lambda offer: services.slot_withdraw(slot=offer.slot, by=front_desk_user),
        "failed": lambda offer: services.offer_fail(offer_id=offer.pk, reason="test"),
        "no": lambda offer: services.offer_decline(patient=patient),
    }
    for day, (how, end) in enumerate(endings.items(), start=2):
        with commit():
            holding = open_slot(provider, start=slot_start(days=day * 2, hour=9))
            waiting = open_slot(provider, start=slot_start(days=day * 2 + 1, hour=9))
        assert refreshed([waiting])[0].waiting_for == Slot.WaitingFor.BUSY_PATIENTS, how
        with commit():
            end(live(holding)[0])
        assert [o.patient_id for o in live(waiting)] == [patient.pk], how
        with commit():
            services.slot_withdraw(slot=waiting, by=front_desk_user)


def test_a_patient_who_joins_reopens_a_slot_that_closed_because_nobody_fitted(
        provider, commit, front_desk_user):
    with commit():
        slot = open_slot(provider)
    slot.refresh_from_db()
    assert (slot.status, slot.unfilled_reason) == (Slot.Status.UNFILLED,
                                                   Slot.UnfilledReason.NOBODY_FITS)
    patient = PatientFactory()

    with commit():
        waitlist_services.entry_add(patient=patient, any_provider=True, by=front_desk_user)

    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert [o.patient_id for o in live(slot)] == [patient.pk]


def test_a_slot_too_soon_to_text_is_unfilled_with_that_reason_and_never_reopens(
        provider, commit, front_desk_user):
    waitlist(3)
    with commit():
        slot = open_slot(provider, start=timezone.now() + dt.timedelta(minutes=30))
    slot.refresh_from_db()
    assert (slot.status, slot.unfilled_reason) == (Slot.Status.UNFILLED,
                                                   Slot.UnfilledReason.TOO_SOON)
    assert not slot.offers.exists()
    with commit():
        waitlist_services.entry_add(patient=PatientFactory(), any_provider=True)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED


def test_a_slot_outside_texting_hours_says_it_waits_for_them(provider, commit, settings):
    now = timezone.localtime()
    settings.SMS_SEND_HOURS = ((now + dt.timedelta(hours=1)).time().replace(microsecond=0),
                               (now + dt.timedelta(hours=2)).time().replace(microsecond=0))
    if settings.SMS_SEND_HOURS[1] <= settings.SMS_SEND_HOURS[0]:
        settings.SMS_SEND_HOURS = ((now - dt.timedelta(hours=2)).time(),
                                   (now - dt.timedelta(hours=1)).time())
    waitlist(3)
    with commit():
        slot = open_slot(provider, start=timezone.now() + dt.timedelta(days=3))
    slot.refresh_from_db()
    assert slot.waiting_for == Slot.WaitingFor.TEXTING_HOURS
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    with commit():
        assert services.slots_resume() == 1
    slot.refresh_from_db()
    assert slot.waiting_for == ""
    assert len(live(slot)) == 3


def test_looking_at_waiting_slots_stays_within_its_bound(provider, commit, settings,
                                                         django_assert_max_num_queries):
    settings.OFFER_WAITING_SLOTS_LOOKED_AT = 5
    # Forty slots waiting (set up directly: the measure is the look, not the set-up).
    for i in range(40):
        SlotFactory(provider=provider, start=slot_start(days=2 + i // 8, hour=8 + i % 8),
                    waiting_for=Slot.WaitingFor.BUSY_PATIENTS)
    patient = WaitlistEntryFactory(any_provider=True).patient
    # One query for the slots, one EXISTS per slot looked at, nothing locked.
    with django_assert_max_num_queries(1 + 5):
        chosen = services.slots_to_look_at_for(patient_ids=[patient.pk])
    assert len(chosen) == 5
    starts = list(Slot.objects.filter(pk__in=chosen).order_by("start")
                  .values_list("pk", flat=True))
    assert chosen == starts


def test_a_busy_provider_day_never_closes_a_slot_that_someone_free_still_fits(
        commit, settings):
    """A provider calls in sick: eight slots at once over five patients, two of whom wait
    for two visits each. Everyone answers NO, one at a time: every slot ends unfilled
    only when all who fit have said NO."""
    settings.OFFER_BATCH_SIZE = 2
    provider = ProviderFactory()
    scan = AppointmentTypeFactory(code="scan", duration_minutes=20)
    entries = waitlist(5)
    for entry in entries[:2]:
        WaitlistEntryFactory(patient=entry.patient, appointment_type=scan)
    with commit():
        slots = [open_slot(provider, start=slot_start(hour=8 + i)) for i in range(8)]
    for _ in range(100):
        offers = Offer.objects.filter(status__in=Offer.LIVE_STATUSES).order_by("pk")
        if not offers.exists():
            break
        for slot in refreshed(slots):
            if slot.status == Slot.Status.UNFILLED:
                # Nobody who fits is left: each of the five was asked.
                assert slot.offers.values("patient").distinct().count() == 5
        with commit():
            services.offer_decline(patient=offers.first().patient)
    assert {s.status for s in refreshed(slots)} == {Slot.Status.UNFILLED}
    assert all(s.unfilled_reason == Slot.UnfilledReason.NOBODY_TOOK_IT for s in slots)
    assert WaitlistEntry.objects.filter(status="active").count() == 7
