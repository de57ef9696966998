import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.tests.factories import ProviderFactory
from messaging import hooks
from messaging.models import Message
from offers import services
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, slot_start, waitlist
from offers.tests.factories import OfferFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


def test_opening_a_slot_offers_it_to_the_best_three(provider, commit):
    entries = waitlist(5)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    assert [o.entry_id for o in offers] == [e.pk for e in entries[:3]]
    slot.refresh_from_db()
    assert slot.current_batch == 1
    for offer in offers:
        assert offer.status == Offer.Status.SENT
        assert offer.batch == 1
        assert offer.hold_until - offer.sent_at == dt.timedelta(seconds=420)
        texts = Message.objects.filter(offer=offer, kind="offer")
        assert texts.count() == 1
        assert "Dr. Maya Patel" in texts.get().body


def test_batch_size_follows_the_setting(provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 2
    waitlist(5)
    with commit():
        slot = open_slot(provider)
    assert len(live(slot)) == 2


def test_next_batch_goes_out_as_soon_as_every_offer_is_declined(provider, commit):
    entries = waitlist(7)
    with commit():
        slot = open_slot(provider)
    first = live(slot)
    with commit():
        services.offer_decline(patient=first[0].patient)
        services.offer_decline(patient=first[1].patient)
    # One offer is still out: the slot waits for it.
    assert [o.pk for o in live(slot)] == [first[2].pk]
    with commit():
        services.offer_decline(patient=first[2].patient)
    second = live(slot)
    assert [o.entry_id for o in second] == [e.pk for e in entries[3:6]]
    assert {o.batch for o in second} == {2}
    # Decliners stay on the waitlist.
    assert WaitlistEntry.objects.get(pk=entries[0].pk).status == WaitlistEntry.Status.ACTIVE


def test_a_failed_offer_message_moves_the_slot_on(provider, commit):
    waitlist(4)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    with commit():
        for offer in offers[:2]:
            services.offer_decline(patient=offer.patient)
        message = Message.objects.get(offer=offers[2], kind="offer")
        hooks.message_failed.send(sender=Message, message=message, permanent=True,
                                  error_code="21211")
    assert Offer.objects.get(pk=offers[2].pk).status == Offer.Status.FAILED
    assert len(live(slot)) == 1  # the fourth patient, in batch 2


def test_an_opted_out_patient_releases_their_offer(provider, commit):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    offer = live(slot)[0]
    with commit():
        hooks.patient_opted_out.send(sender=type(offer.patient), patient=offer.patient)
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.DECLINED


def test_exhausted_waitlist_leaves_the_slot_unfilled_for_staff(provider, commit):
    waitlist(2)
    with commit():
        slot = open_slot(provider)
    with commit():
        for offer in live(slot):
            services.offer_decline(patient=offer.patient)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED
    assert slot.closed_at is not None


def test_slot_with_nobody_who_fits_is_unfilled_at_once(provider, commit):
    WaitlistEntryFactory(providers=[ProviderFactory()])
    with commit():
        slot = open_slot(provider)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED
    assert not slot.offers.exists()


def test_no_offers_for_a_slot_starting_within_the_lead_time(provider, commit, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    waitlist(3)
    start = timezone.now() + dt.timedelta(minutes=45)
    with commit():
        slot = open_slot(provider, start=start)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED
    assert not slot.offers.exists()


def test_batch_grows_when_little_time_is_left(provider, commit, settings):
    settings.OFFER_MIN_LEAD_MINUTES = 60
    settings.OFFER_HOLD_SECONDS = 600
    settings.OFFER_BATCH_SIZE = 3
    settings.OFFER_TARGET_BATCHES = 3
    settings.OFFER_MAX_BATCH_SIZE = 8
    waitlist(12)
    # Room for one ten-minute hold before offering must stop: all three batches at once,
    # capped at the maximum.
    start = timezone.now() + dt.timedelta(minutes=60 + 15)
    with commit():
        slot = open_slot(provider, start=start)
    assert len(live(slot)) == 8
    # Plenty of time: the normal size.
    assert services.batch_size_for(slot=slot, at=timezone.now() - dt.timedelta(days=1)) == 3


def test_a_patient_holding_a_live_offer_is_not_offered_another_slot(provider, commit):
    only = WaitlistEntryFactory(boost=10)
    also = WaitlistEntryFactory(patient=only.patient)  # a second entry, same patient
    with commit():
        first = open_slot(provider)
        second = open_slot(provider, start=first.start + dt.timedelta(hours=1))
    assert len(live(first)) == 1
    assert live(second) == []
    assert Offer.objects.filter(patient=only.patient).count() == 1
    assert also.pk  # the second entry exists and still waits
    second.refresh_from_db()
    # Not unfilled: the one patient who fits is only busy, so the slot waits for them.
    assert second.status == Slot.Status.OFFERING
    assert second.waiting_for == Slot.WaitingFor.BUSY_PATIENTS


def test_quiet_hours_hold_offers_until_they_open(provider, commit, settings):
    now_local = timezone.localtime()
    # A window that has not opened yet today (or closed): no texts now.
    closed_from = (now_local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    closed_until = (now_local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    if closed_until <= closed_from:  # near midnight: use the hour just before now
        closed_from = (now_local - dt.timedelta(hours=2)).time().replace(second=0)
        closed_until = (now_local - dt.timedelta(hours=1)).time().replace(second=0)
    settings.SMS_SEND_HOURS = (closed_from, closed_until)
    waitlist(3)
    start = timezone.now() + dt.timedelta(days=3)
    with commit():
        slot = open_slot(provider, start=start)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert not slot.offers.exists()
    assert not Message.objects.filter(kind="offer").exists()
    # The hours open: the next sweep sends the batch.
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    from offers.tasks import offers_sweep

    with commit():
        result = offers_sweep.delay().get()
    assert result["batches"] == 1
    assert len(live(slot)) == 3


def test_sms_hours_window_is_in_clinic_local_time(settings):
    settings.SMS_SEND_HOURS = (dt.time(8, 0), dt.time(20, 0))
    day = timezone.localtime().replace(hour=12, minute=0)
    assert services.sms_hours_open(day)
    assert services.sms_hours_open(day.replace(hour=8, minute=0))
    assert not services.sms_hours_open(day.replace(hour=20, minute=0))
    assert not services.sms_hours_open(day.replace(hour=7, minute=59))
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    assert services.sms_hours_open(day.replace(hour=23, minute=59))


def test_staff_withdraw_supersedes_live_offers_and_tells_the_patients(provider, commit,
                                                                      front_desk_user):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    offers = live(slot)
    with commit():
        services.slot_withdraw(slot=slot, by=front_desk_user, reason="Provider is ill")
    slot.refresh_from_db()
    assert slot.status == Slot.Status.WITHDRAWN
    assert live(slot) == []
    assert set(Offer.objects.filter(slot=slot).values_list("status", flat=True)) == {
        Offer.Status.SUPERSEDED}
    closed = Message.objects.filter(kind="offer_closed")
    assert {m.patient_id for m in closed} == {o.patient_id for o in offers}
    assert slot.history.first().history_change_reason == "Provider is ill"
    assert slot.history.first().history_user == front_desk_user


def test_withdrawing_a_filled_slot_is_refused(provider, commit, front_desk_user):
    waitlist(1)
    with commit():
        slot = open_slot(provider)
    with commit():
        services.offer_claim(patient=live(slot)[0].patient)
    with pytest.raises(ValidationError):
        services.slot_withdraw(slot=slot, by=front_desk_user)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED


def test_staff_fill_by_phone_books_the_entry_and_ends_offers(provider, commit,
                                                              front_desk_user):
    entries = waitlist(4)
    with commit():
        slot = open_slot(provider)
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=entries[3])
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_via == Slot.FilledVia.PHONE
    assert slot.filled_entry_id == entries[3].pk
    assert WaitlistEntry.objects.get(pk=entries[3].pk).status == WaitlistEntry.Status.BOOKED
    assert live(slot) == []


def test_filling_by_phone_with_a_patient_who_holds_an_offer_for_it_books_their_offer(
        provider, commit, front_desk_user, settings):
    waitlist(3)
    with commit():
        slot = open_slot(provider)
    mine, *others = live(slot)
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=mine.entry)
    mine.refresh_from_db()
    assert mine.status == Offer.Status.ACCEPTED
    assert mine.history.first().history_user == front_desk_user
    # Nobody is texted while the fill can still be undone (offers/tests/test_phone_fill.py).
    assert not Message.objects.exclude(kind="offer").exists()
    settings.PHONE_FILL_UNDO_SECONDS = 0  # the undo window has passed
    with commit():
        services.slot_phone_fill_announce(slot_id=slot.pk)
    # They get the confirmation, not "no longer available" for the slot they just took.
    assert list(Message.objects.filter(patient=mine.patient, direction="out")
                .values_list("kind", flat=True).order_by("pk")) == ["offer", "confirmation"]
    assert "You're booked" in Message.objects.get(patient=mine.patient,
                                                  kind="confirmation").body
    assert {o.status for o in Offer.objects.filter(pk__in=[o.pk for o in others])} == {
        Offer.Status.SUPERSEDED}
    assert {m.patient_id for m in Message.objects.filter(kind="offer_closed")} == {
        o.patient_id for o in others}
    # Their YES, arriving late, is confirmed again; the others hear someone took it.
    with commit():
        assert services.offer_claim(patient=mine.patient).outcome == services.Outcome.ALREADY_BOOKED
        assert services.offer_claim(patient=others[0].patient).outcome == services.Outcome.FILLED


def test_booking_by_phone_ends_the_patients_live_offer_for_another_slot(
        provider, commit, front_desk_user, settings):
    settings.OFFER_BATCH_SIZE = 1
    first, second, third = waitlist(3)
    with commit():
        elsewhere = open_slot(provider, start=slot_start(days=3))
        slot = open_slot(provider)
    [held] = live(elsewhere)
    assert held.entry_id == first.pk
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=first)
    held.refresh_from_db()
    assert held.status == Offer.Status.SUPERSEDED
    assert held.history.first().history_change_reason.endswith(
        "Patient booked by phone into another slot")
    assert Message.objects.filter(patient=first.patient,
                                  kind="offer_closed_off_waitlist").count() == 1
    # That slot moved on at once.
    assert [o.entry_id for o in live(elsewhere)] != []
    assert first.pk not in [o.entry_id for o in live(elsewhere)]


def test_the_offer_text_never_promises_more_minutes_than_the_hold(provider, commit, settings):
    settings.OFFER_HOLD_SECONDS = 90
    waitlist(1)
    with commit():
        slot = open_slot(provider)
    assert "Reply YES in 1 min" in Message.objects.get(offer__slot=slot, kind="offer").body


@pytest.mark.parametrize(("seconds", "minutes"), [(60, 1), (119, 1), (420, 7), (450, 7)])
def test_hold_minutes_in_the_offer_text_are_rounded_down(provider, commit, settings,
                                                         seconds, minutes):
    settings.OFFER_HOLD_SECONDS = seconds
    waitlist(1)
    with commit():
        slot = open_slot(provider)
    body = Message.objects.get(offer__slot=slot, kind="offer").body
    assert f"Reply YES in {minutes} min" in body


def test_a_patient_waiting_twice_is_not_offered_a_slot_again_after_saying_no(provider, commit,
                                                                             settings):
    settings.OFFER_BATCH_SIZE = 1
    first = WaitlistEntryFactory(boost=20)
    WaitlistEntryFactory(patient=first.patient, boost=10)  # the same patient, again
    other = WaitlistEntryFactory(boost=0)
    with commit():
        slot = open_slot(provider)
    [offer] = live(slot)
    assert offer.entry_id == first.pk
    with commit():
        services.offer_decline(patient=first.patient)
    assert [o.patient_id for o in live(slot)] == [other.patient_id]
    assert Offer.objects.filter(slot=slot, patient=first.patient).count() == 1


def test_the_database_refuses_a_second_offer_of_one_slot_to_one_patient(provider):
    first = WaitlistEntryFactory()
    second = WaitlistEntryFactory(patient=first.patient)
    slot = open_slot(provider)
    OfferFactory(slot=slot, entry=first, status=Offer.Status.DECLINED)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(slot=slot, entry=second, status=Offer.Status.DECLINED)


def test_staff_can_send_another_batch_without_waiting(provider, commit, front_desk_user):
    waitlist(6)
    with commit():
        slot = open_slot(provider)
    with commit():
        more = services.slot_offer_more(slot=slot, by=front_desk_user)
    assert len(more) == 3
    assert len(live(slot)) == 6
    slot.refresh_from_db()
    assert slot.current_batch == 2
    with pytest.raises(ValidationError):
        services.slot_offer_more(slot=slot, by=front_desk_user)  # nobody left


def test_slot_must_end_after_it_starts(provider):
    start = timezone.now() + dt.timedelta(days=1)
    with pytest.raises(ValidationError):
        services.slot_open(provider=provider, start=start, end=start)
    assert not Slot.objects.exists()


def test_the_same_ehr_cancellation_twice_records_one_slot(provider, commit):
    waitlist(3)
    with commit():
        first = open_slot(provider, ehr_identifier_system="urn:ehr", ehr_identifier_value="A1")
        again = open_slot(provider, ehr_identifier_system="urn:ehr", ehr_identifier_value="A1")
    assert first.pk == again.pk
    assert Offer.objects.count() == 3
