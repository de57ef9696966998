"""Where the busy day (issue 11) meets filled by phone's undo window (13) and the replies
that fit the patient's state (12): a fill by phone frees its patients for the waiting
slots at once, an undo gives back only offers that are still their patient's newest and
offers again the slots its booking had closed, a wrong number wakes the slots waiting
for that patient, and a question is answered about the offer the patient saw."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import AppointmentTypeFactory
from messaging.models import Message
from messaging.services import clinic_sms_number, inbound_handle
from offers import services
from offers.models import Offer, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, pass_hold, slot_start
from offers.tests.test_replies_act_on_the_offer_seen import held_up_texts
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

# One patient is offered several slots within minutes here (conftest.fatigue_caps_off).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fatigue_caps_off")]


@pytest.fixture
def kinds(db):
    return (AppointmentTypeFactory(code="checkup", duration_minutes=20),
            AppointmentTypeFactory(code="scan", duration_minutes=20))


def texted(patient, body: str) -> str:
    return inbound_handle(from_number=patient.phone, to_number=clinic_sms_number(),
                          body=body, sid=f"SM{Message.objects.count():032d}")


def news_of_the_fill() -> list[str]:
    """Proactive texts about an offer ending (not the answers to a reply)."""
    return list(Message.objects.filter(direction="out", kind__startswith="offer_closed")
                .values_list("kind", flat=True))


def refreshed(*objects):
    for obj in objects:
        obj.refresh_from_db()
    return objects


def test_a_fill_by_phone_frees_its_patients_for_the_waiting_slots_at_once_not_after_the_undo_window(  # noqa: E501
        provider, commit, kinds, front_desk_user, settings):
    checkup, scan = kinds
    anyone = WaitlistEntryFactory(boost=40)  # fits both slots
    for boost in (30, 20):
        WaitlistEntryFactory(boost=boost, appointment_type=checkup)
    with commit():
        first = open_slot(provider, start=slot_start(hour=9), appointment_type=checkup)
        scan_slot = open_slot(provider, start=slot_start(hour=10), appointment_type=scan)
    assert len(live(first)) == 3
    refreshed(scan_slot)
    assert scan_slot.waiting_for == Slot.WaitingFor.BUSY_PATIENTS

    with commit():
        services.slot_mark_filled_by_phone(slot=first, by=front_desk_user)

    # The waiting slot has its patient now, two minutes before anyone hears of the fill.
    [offer] = live(scan_slot)
    assert offer.entry == anyone
    assert news_of_the_fill() == []
    assert services.phone_fill_undo_until(refreshed(first)[0]) is not None
    settings.PHONE_FILL_UNDO_SECONDS = 0
    with commit():
        assert services.slot_phone_fill_announce(slot_id=first.pk) == 3
    assert news_of_the_fill() == ["offer_closed"] * 3


def test_an_undo_gives_back_only_the_offers_of_patients_not_offered_another_slot_since(
        provider, commit, kinds, front_desk_user):
    checkup, scan = kinds
    WaitlistEntryFactory(boost=40)  # fits both slots
    for boost in (30, 20):
        WaitlistEntryFactory(boost=boost, appointment_type=checkup)
    with commit():
        first = open_slot(provider, start=slot_start(hour=9), appointment_type=checkup)
        scan_slot = open_slot(provider, start=slot_start(hour=10), appointment_type=scan)
    best, *others = live(first)
    with commit():
        services.slot_mark_filled_by_phone(slot=first, by=front_desk_user)
    assert [o.patient_id for o in live(scan_slot)] == [best.patient_id]

    with commit():
        services.slot_phone_fill_undo(slot=first, by=front_desk_user)

    # The two still free hold their offers again, with their holds; the best one keeps
    # the scan slot's offer (their newest, the one a reply of theirs is about) and the
    # first slot's stays closed, as they are told: one live offer each.
    refreshed(first, best)
    assert first.status == Slot.Status.OFFERING
    assert {o.pk for o in live(first)} == {o.pk for o in others}
    assert all(o.hold_until > timezone.now() for o in live(first))
    assert best.status == Offer.Status.SUPERSEDED
    assert [o.patient_id for o in live(scan_slot)] == [best.patient_id]
    assert list(Message.objects.filter(kind__startswith="offer_closed")
                .values_list("subject_id", flat=True)) == [best.pk]


def test_an_undo_does_not_give_back_an_older_offer_once_a_newer_one_has_ended(
        provider, commit, kinds, front_desk_user):
    checkup, scan = kinds
    WaitlistEntryFactory(boost=40)  # fits both slots
    with commit():
        first = open_slot(provider, start=slot_start(hour=9), appointment_type=checkup)
        scan_slot = open_slot(provider, start=slot_start(hour=10), appointment_type=scan)
    [older] = live(first)
    with commit():
        services.slot_mark_filled_by_phone(slot=first, by=front_desk_user)
    [newer] = live(scan_slot)
    with commit():
        assert "Thanks for letting us know" in texted(newer.patient, "NO")

    with commit():
        services.slot_phone_fill_undo(slot=first, by=front_desk_user)

    # Their newest offer (declined) is what their next reply is about: the 9:00 one
    # given back silently would be an offer they could not answer. It stays closed and
    # they hear so.
    refreshed(older, first)
    assert older.status == Offer.Status.SUPERSEDED
    assert Offer.objects.filter(patient=older.patient, status__in=Offer.LIVE_STATUSES
                                ).count() == 0
    assert Message.objects.filter(offer=older, kind="offer_closed").count() == 1
    assert first.status == Slot.Status.UNFILLED  # nobody else fits it


def test_an_undo_after_the_booked_patient_was_told_they_are_booked_tells_them_it_no_longer_stands(  # noqa: E501
        provider, commit, front_desk_user):
    entries = [WaitlistEntryFactory(boost=boost) for boost in (30, 20)]
    with commit():
        slot = open_slot(provider)
    mine = next(o for o in live(slot) if o.entry == entries[0])
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user, entry=entries[0])
    with commit():
        assert "booked" in texted(mine.patient, "YES")  # a repeat YES: "you're booked"

    with commit():
        services.slot_phone_fill_undo(slot=slot, by=front_desk_user)

    # Before: their accepted offer stayed accepted on a slot offering again (a second
    # YES would then have met the one-booking-per-slot constraint).
    refreshed(mine, slot)
    assert mine.status == Offer.Status.SUPERSEDED
    assert not slot.offers.filter(status=Offer.Status.ACCEPTED).exists()
    assert Message.objects.filter(offer=mine, kind="offer_closed").count() == 1
    assert [o.entry for o in live(slot)] == [entries[1]]


def test_an_undo_offers_again_a_slot_that_closed_because_its_patient_was_booked(
        provider, commit, front_desk_user):
    only = WaitlistEntryFactory()
    with commit():
        first = open_slot(provider, start=slot_start(hour=9))
        second = open_slot(provider, start=slot_start(hour=10))
    [mine] = live(first)
    with commit():
        services.slot_mark_filled_by_phone(slot=first, by=front_desk_user, entry=only)
    refreshed(second)
    # Its one patient is booked: nobody who fits is left.
    assert (second.status, second.unfilled_reason) == (Slot.Status.UNFILLED,
                                                       Slot.UnfilledReason.NOBODY_FITS)

    with commit():
        services.slot_phone_fill_undo(slot=first, by=front_desk_user)

    refreshed(first, second, only, mine)
    assert only.status == WaitlistEntry.Status.ACTIVE
    assert live(first) == [mine]
    # The patient who fits waits again (holding the first slot's offer): the second slot
    # offers again and waits for them, instead of staying unfilled with them on the list.
    assert second.status == Slot.Status.OFFERING
    assert second.waiting_for == Slot.WaitingFor.BUSY_PATIENTS
    assert second.unfilled_reason == Slot.UnfilledReason.NONE


def test_an_undo_leaves_closed_the_offer_of_a_patient_who_said_wrong_number_meanwhile(
        provider, commit, front_desk_user):
    entries = [WaitlistEntryFactory(boost=boost) for boost in (30, 20)]
    with commit():
        slot = open_slot(provider)
    stranger, other = live(slot)
    with commit():
        services.slot_mark_filled_by_phone(slot=slot, by=front_desk_user)
    with commit():
        texted(stranger.patient, "wrong number")

    with commit():
        services.slot_phone_fill_undo(slot=slot, by=front_desk_user)

    refreshed(stranger)
    assert stranger.status == Offer.Status.SUPERSEDED
    assert live(slot) == [other]
    assert entries[1].patient_id == other.patient_id


def test_a_wrong_number_wakes_the_slots_waiting_for_that_patient(provider, commit, kinds,
                                                                settings):
    settings.OFFER_BATCH_SIZE = 1
    checkup, scan = kinds
    anyone = WaitlistEntryFactory(boost=40)  # the only one who fits the scan
    second_best = WaitlistEntryFactory(boost=10, appointment_type=checkup)
    with commit():
        first = open_slot(provider, start=slot_start(hour=9), appointment_type=checkup)
        scan_slot = open_slot(provider, start=slot_start(hour=10), appointment_type=scan)
    [offer] = live(first)
    assert offer.entry == anyone
    assert refreshed(scan_slot)[0].waiting_for == Slot.WaitingFor.BUSY_PATIENTS

    with commit():
        answer = texted(anyone.patient, "wrong number, I don't know any Ana")

    assert "will not text this number again" in answer
    refreshed(offer, scan_slot)
    assert offer.status_label == "Wrong number"
    assert [o.entry for o in live(first)] == [second_best]
    # Not left waiting for someone who can no longer be texted: nobody who fits is left.
    assert (scan_slot.status, scan_slot.unfilled_reason) == (
        Slot.Status.UNFILLED, Slot.UnfilledReason.NOBODY_FITS)


def test_a_question_is_answered_about_the_offer_the_patient_saw_not_one_still_queued(
        provider, commit, settings):
    settings.OFFER_BATCH_SIZE = 1
    entry = WaitlistEntryFactory()
    with commit():
        first = open_slot(provider, start=slot_start(days=2, hour=9))
    [seen] = live(first)
    with commit():
        pass_hold([seen])
        services.offer_expire(offer_id=seen.pk)
        services.slot_withdraw(slot=first, by=None)
    with held_up_texts(), commit():
        second = open_slot(provider, start=slot_start(days=3, hour=14))
    [queued] = live(second)
    assert queued.status == Offer.Status.PENDING

    with commit():
        answer = texted(entry.patient, "what time?")

    # About the 9:00 the patient was sent (now ended), not the 2:00 they have not seen.
    assert timezone.localtime(first.start).strftime("%-I:%M") in answer
    assert "no longer available" in answer
    assert timezone.localtime(second.start).strftime("%-I:%M") not in answer
    assert Message.objects.filter(direction="in", patient=entry.patient).get().subject_id == (
        seen.pk)


def test_a_question_that_arrived_before_the_offer_text_left_is_not_answered_about_it(
        provider, commit):
    WaitlistEntryFactory()
    with held_up_texts(), commit():
        slot = open_slot(provider)
    [offer] = live(slot)
    # The text was handed over a moment after the question arrived (the webhook was
    # slow), and both before it is handled now.
    arrived = timezone.now() - dt.timedelta(seconds=10)
    Message.objects.filter(offer=offer, kind="offer").update(
        status=Message.Status.SENT, sent_at=arrived + dt.timedelta(seconds=2))

    answer = handle_reply(patient=offer.patient, intent="ask_when",
                          message=Message(created_at=arrived))

    # Not "To book ... reply YES within 7 min": they had no offer when they asked.
    assert answer.context["state"] == "none"
    assert answer.subject is None


def test_a_slot_closed_for_want_of_a_textable_patient_offers_again_when_staff_correct_the_phone(  # noqa: E501
        provider, commit, client, admin_user):
    entry = WaitlistEntryFactory()
    with commit():
        slot = open_slot(provider)
    [offer] = live(slot)
    with commit():
        texted(entry.patient, "wrong number")
    with commit():
        other = open_slot(provider, start=slot_start(hour=15))
    slot.refresh_from_db()
    other.refresh_from_db()
    assert (slot.status, slot.unfilled_reason) == (Slot.Status.UNFILLED,
                                                   Slot.UnfilledReason.NOBODY_TOOK_IT)
    assert (other.status, other.unfilled_reason) == (Slot.Status.UNFILLED,
                                                     Slot.UnfilledReason.NOBODY_FITS)
    client.force_login(admin_user)

    with commit():
        response = client.post(
            reverse("admin:clinic_patient_change", args=[entry.patient_id]),
            {"first_name": entry.patient.first_name, "last_name": entry.patient.last_name,
             "phone": "(312) 555-0199", "preferred_language": "en",
             "phone_invalid_at_0": "", "phone_invalid_at_1": "",
             "phone_wrong_at_0": "", "phone_wrong_at_1": ""})

    assert response.status_code == 302
    # The first slot already asked them (a patient is never asked one slot twice); the
    # other one, which nobody fitted, goes to them now at their corrected number.
    slot.refresh_from_db()
    assert slot.status == Slot.Status.UNFILLED
    [new_offer] = live(other)
    assert new_offer.patient_id == entry.patient_id
    assert Message.objects.get(offer=new_offer, kind="offer").to_number == "+13125550199"
