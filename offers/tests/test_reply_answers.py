"""Every answer fits the patient's actual state (issue 13, item 5), through the real
engine: the inbound path (messaging.services.inbound_handle, as the webhook and the
simulator call it) and offers.replies.handle_reply. A day of slots over shared patients:
some hold a live offer, some were beaten to a slot, some are booked, some never had one."""

import datetime as dt

import pytest
from django.utils import timezone

from clinic.tests.factories import LocationFactory, PatientFactory, ProviderFactory
from messaging.models import Message
from messaging.services import inbound_handle
from offers.models import Offer, Slot
from offers.tests.conftest import open_slot, slot_start, waitlist
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

sids = iter(range(1, 100_000))


def text(patient, body: str) -> str:
    return inbound_handle(from_number=patient.phone, to_number="+13125550100", body=body,
                          sid=f"SM{next(sids):032d}")


@pytest.fixture
def day(settings, commit):
    """Three slots with two providers, offered in batches of two over seven patients (one
    is left waiting for the next batch)."""
    settings.OFFER_BATCH_SIZE = 2
    settings.OFFER_HOLD_SECONDS = 420
    settings.CLINIC_NAME = "Riverside Family Clinic"
    settings.CLINIC_PHONE = "(312) 555-0100"
    site = LocationFactory(name="Riverside main", address="1200 W Harrison St")
    patel = ProviderFactory(name="Dr. Maya Patel", location=site)
    chen = ProviderFactory(name="Dr. Wei Chen", location=site)
    entries = waitlist(7)
    with commit():
        slots = [open_slot(patel, start=slot_start(days=1, hour=9)),
                 open_slot(chen, start=slot_start(days=1, hour=11)),
                 open_slot(patel, start=slot_start(days=2, hour=14))]
    return {"slots": slots, "entries": entries, "patients": [e.patient for e in entries]}


def live_offer(patient) -> Offer:
    return Offer.objects.select_related("slot__provider").get(
        patient=patient, status__in=Offer.LIVE_STATUSES)


def test_a_question_about_the_offer_is_answered_with_its_day_time_provider_and_minutes(day):
    patient = day["patients"][0]
    offer = live_offer(patient)
    history = offer.history.count()

    for body in ("what time?", "when?", "with who?", "how long do I have?"):
        answer = text(patient, body)

        assert offer.slot.provider.name in answer
        assert timezone.localtime(offer.slot.start).strftime("%-I:%M") in answer
        assert "reply YES within 7 min" in answer
    # Questions change nothing: the offer is still live, nothing was written to it.
    offer.refresh_from_db()
    assert offer.is_live
    assert offer.history.count() == history
    asked = Message.objects.filter(direction="in", patient=patient)
    assert {m.kind for m in asked} == {"ask_when"}
    assert {m.subject_id for m in asked} == {offer.pk}


def test_a_spanish_patient_asking_a_que_hora_hears_the_offer_in_spanish(day):
    patient = day["patients"][1]
    patient.preferred_language = "es"
    patient.save()

    answer = text(patient, "¿a qué hora?")

    assert "Para tomar la cita del" in answer
    assert "responda SI en 7 min" in answer
    assert live_offer(patient).slot.provider.name in answer


def test_who_is_this_gets_the_clinics_name_phone_and_address(day):
    answer = text(day["patients"][0], "who is this?")

    assert answer.startswith("Riverside Family Clinic: This is Riverside Family Clinic")
    assert "(312) 555-0100" in answer
    assert "1200 W Harrison St" in answer


def test_a_yes_with_a_doubt_is_asked_again_and_books_nothing(day):
    patient = day["patients"][0]
    offer = live_offer(patient)

    answer = text(patient, "yes but can it be later?")

    assert "We can only offer this time by text" in answer
    assert "reply YES within" in answer
    offer.refresh_from_db()
    assert offer.is_live
    assert offer.slot.status == Slot.Status.OFFERING
    assert not Offer.objects.filter(status=Offer.Status.ACCEPTED).exists()


def test_a_slot_closed_patient_who_texts_hm_is_not_invited_to_reply_yes(day, commit):
    """Issue 13: they were told "Reply YES to take the appointment we offered"; their
    YES then heard "someone else just took it"."""
    winner, beaten = day["patients"][0], day["patients"][1]
    slot = live_offer(beaten).slot
    assert live_offer(winner).slot == slot
    with commit():
        text(winner, "YES")

    for body in ("hm", "?", "what time?", "Oui", "maybe"):
        answer = text(beaten, body)
        assert "YES" not in answer, (body, answer)
        assert "no longer available" in answer
        assert "You stay on our waitlist" in answer
    assert text(beaten, "thanks") == ""  # nothing to say: no text costs them anything


def test_a_booked_patient_hears_their_booking_whatever_they_text(day, commit):
    patient = day["patients"][0]
    slot = live_offer(patient).slot
    with commit():
        text(patient, "YES")

    for body in ("hm", "what time?", "no", "maybe", "can it be later?"):
        answer = text(patient, body)
        assert "YES" not in answer, (body, answer)
        assert "You are booked" in answer, (body, answer)
        assert "To change it, call (312) 555-0100" in answer
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED  # a NO after booking cancels nothing by text


def test_a_patient_with_no_offer_and_no_waitlist_entry_is_not_told_they_stay_on_it(day):
    stranger_to_the_list = PatientFactory()

    for body in ("hm", "YES", "what time?"):
        answer = text(stranger_to_the_list, body)
        assert "YES" not in answer
        assert "waitlist" not in answer

    waiting = WaitlistEntryFactory().patient  # joined after the offers went out
    assert "You stay on our waitlist" in text(waiting, "hm")


def test_no_but_next_week_ends_the_offer_and_the_slot_moves_on(day, commit):
    patient, other = day["patients"][0], day["patients"][1]
    offer = live_offer(patient)
    assert live_offer(other).slot == offer.slot

    with commit():
        answer = text(patient, "no, but next week yes")
        text(other, "not today, maybe tomorrow?")

    assert "You stay on our waitlist" in answer
    assert "To change the days that suit you, call" in answer
    offer.refresh_from_db()
    assert offer.status == Offer.Status.DECLINED
    assert WaitlistEntry.objects.get(patient=patient).status == WaitlistEntry.Status.ACTIVE
    # Both holders said no, so the slot did not wait out the hold: the next batch is out.
    [next_offer] = offer.slot.offers.filter(status__in=Offer.LIVE_STATUSES)
    assert next_offer.patient == day["patients"][6]


def test_thanks_while_an_offer_is_live_is_answered_with_the_question(day):
    patient = day["patients"][0]

    answer = text(patient, "ok thanks")

    assert "reply YES within 7 min" in answer
    assert live_offer(patient).is_live


def test_an_offer_whose_hold_has_passed_is_not_repeated_as_live(day):
    patient = day["patients"][0]
    offer = live_offer(patient)
    Offer.objects.filter(pk=offer.pk).update(
        hold_until=timezone.now() - dt.timedelta(seconds=5))

    answer = text(patient, "what time?")

    assert "YES" not in answer
    assert "no longer available" in answer
