import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.rendering import sms_render
from offers import services
from offers.models import Offer, Slot
from offers.replies import handle_reply
from offers.tests.conftest import live, open_slot, pass_hold, waitlist
from waitlist import services as waitlist_services
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered(provider, commit):
    """A slot out to three patients; the waitlist has two more."""
    entries = waitlist(5)
    with commit():
        slot = open_slot(provider)
    return slot, live(slot), entries


def test_first_yes_books_the_slot_and_gets_a_confirmation(offered, commit):
    slot, offers, _ = offered
    winner = offers[1]
    with commit():
        answer = handle_reply(patient=winner.patient, intent="yes")
    assert answer.template == "confirmation"
    assert answer.subject == winner
    assert answer.context == {"first_name": winner.patient.first_name, "start": slot.start,
                              "provider": "Dr. Maya Patel"}
    slot.refresh_from_db()
    assert slot.status == Slot.Status.FILLED
    assert slot.filled_via == Slot.FilledVia.SMS
    assert slot.filled_entry_id == winner.entry_id
    assert WaitlistEntry.objects.get(pk=winner.entry_id).status == WaitlistEntry.Status.BOOKED
    statuses = dict(Offer.objects.filter(slot=slot).values_list("pk", "status"))
    assert statuses == {offers[0].pk: "superseded", winner.pk: "accepted",
                        offers[2].pk: "superseded"}
    # The others are told their offer ended, without waiting for them to reply.
    told = Message.objects.filter(kind="offer_closed").values_list("patient_id", flat=True)
    assert set(told) == {offers[0].patient_id, offers[2].patient_id}


def test_a_later_yes_is_told_the_slot_is_filled_and_stays_on_the_waitlist(offered, commit):
    slot, offers, _ = offered
    with commit():
        handle_reply(patient=offers[0].patient, intent="yes")
        late = handle_reply(patient=offers[2].patient, intent="yes")
    assert late.template == "already_filled"
    assert WaitlistEntry.objects.get(pk=offers[2].entry_id).status == "active"
    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1


def test_a_yes_after_the_hold_is_told_it_expired_and_the_slot_moves_on(offered, commit):
    slot, offers, _ = offered
    pass_hold(offers)
    with commit():
        answer = handle_reply(patient=offers[0].patient, intent="yes")
    assert answer.template == "offer_expired"
    assert Offer.objects.get(pk=offers[0].pk).status == Offer.Status.EXPIRED
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert WaitlistEntry.objects.get(pk=offers[0].entry_id).status == "active"


def test_a_repeated_yes_books_once_and_confirms_again(offered, commit):
    slot, offers, _ = offered
    with commit():
        first = handle_reply(patient=offers[0].patient, intent="yes")
        again = handle_reply(patient=offers[0].patient, intent="yes")
    assert first.template == again.template == "confirmation"
    assert Offer.objects.filter(slot=slot, status="accepted").count() == 1
    assert WaitlistEntry.objects.filter(status="booked").count() == 1


def test_a_no_is_thanked_and_stays_on_the_waitlist(offered, commit):
    _, offers, _ = offered
    with commit():
        answer = handle_reply(patient=offers[0].patient, intent="no")
    assert answer.template == "declined"
    assert Offer.objects.get(pk=offers[0].pk).status == Offer.Status.DECLINED
    assert Offer.objects.get(pk=offers[0].pk).responded_at is not None
    assert WaitlistEntry.objects.get(pk=offers[0].entry_id).status == "active"
    # A second NO has nothing left to answer.
    assert handle_reply(patient=offers[0].patient, intent="no").template == "nothing_to_answer"


def test_yes_from_a_waitlisted_patient_who_was_not_offered_changes_nothing(offered, commit):
    slot, _, entries = offered
    with commit():
        answer = handle_reply(patient=entries[4].patient, intent="yes")
    assert answer.template == "nothing_to_answer"
    assert answer.subject is None
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING


def test_a_patient_who_opted_out_cannot_claim(offered, commit):
    slot, offers, _ = offered
    offers[0].patient.__class__.objects.filter(pk=offers[0].patient_id).update(
        sms_opted_out_at=timezone.now())
    with commit():
        result = services.offer_claim(patient=offers[0].patient)
    assert result.outcome == services.Outcome.NOTHING
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING


def test_an_entry_removed_from_the_waitlist_cannot_claim_and_is_not_told_it_still_waits(
        offered, commit):
    slot, offers, _ = offered
    # Removed a moment ago: the waitlist's news has not reached the offer yet.
    WaitlistEntry.objects.filter(pk=offers[0].entry_id).update(status="removed")
    with commit():
        answer = handle_reply(patient=offers[0].patient, intent="yes")
    assert answer.template == "offer_closed_off_waitlist"
    assert answer.context == {"start": slot.start}
    assert Offer.objects.get(pk=offers[0].pk).status == Offer.Status.SUPERSEDED
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    text = sms_render(template=answer.template, language="en", context=answer.context)
    assert "no longer available" in text
    assert "waitlist" not in text


def test_a_yes_after_staff_withdrew_the_slot_is_told_it_is_no_longer_available(
        offered, commit, front_desk_user):
    slot, offers, _ = offered
    with commit():
        services.slot_withdraw(slot=slot, by=front_desk_user)
        answer = handle_reply(patient=offers[0].patient, intent="yes")
    # Nobody took it, so "someone else just took that appointment" would be false.
    assert answer.template == "offer_closed"
    assert answer.context == {"start": slot.start}
    text = sms_render(template=answer.template, language="en", context=answer.context)
    assert "is no longer available. You stay on our waitlist" in text
    assert "someone else" not in text


def test_a_yes_to_a_filled_slot_after_the_patient_left_the_waitlist_is_not_told_it_waits(
        offered, commit, front_desk_user):
    slot, offers, _ = offered
    with commit():
        handle_reply(patient=offers[0].patient, intent="yes")
        waitlist_services.entry_remove(entry=offers[1].entry, by=front_desk_user, reason="Moved away")
        answer = handle_reply(patient=offers[1].patient, intent="yes")
        no = handle_reply(patient=offers[1].patient, intent="no")
    assert answer.template == no.template == "offer_closed_off_waitlist"


def test_removing_a_waitlist_entry_ends_its_live_offer_and_the_slot_moves_on(
        provider, commit, front_desk_user, settings):
    settings.OFFER_BATCH_SIZE = 1
    first, second = waitlist(2)
    with commit():
        slot = open_slot(provider)
    [offer] = live(slot)
    assert offer.entry_id == first.pk
    with commit():
        waitlist_services.entry_remove(entry=first, by=front_desk_user, reason="Booked elsewhere")
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SUPERSEDED
    assert offer.history.first().history_change_reason.endswith("Patient left the waitlist")
    told = Message.objects.get(patient=first.patient, kind="offer_closed_off_waitlist")
    assert "is no longer available. Questions?" in told.body
    # The next batch went out at once instead of waiting for the hold to end.
    assert [o.entry_id for o in live(slot)] == [second.pk]
    # A YES afterwards is answered truthfully too.
    with commit():
        answer = handle_reply(patient=first.patient, intent="yes")
    assert answer.template == "offer_closed_off_waitlist"


def test_removing_an_entry_without_a_live_offer_texts_nobody(offered, commit, front_desk_user):
    slot, offers, entries = offered
    with commit():
        waitlist_services.entry_remove(entry=entries[4], by=front_desk_user, reason="Moved away")
    assert not Message.objects.filter(kind="offer_closed_off_waitlist").exists()
    assert {o.pk for o in live(slot)} == {o.pk for o in offers}


def test_claim_is_audited(offered, commit):
    slot, offers, _ = offered
    with commit():
        services.offer_claim(patient=offers[0].patient)
    entry_history = WaitlistEntry.objects.get(pk=offers[0].entry_id).history.first()
    assert entry_history.status == "booked"
    assert "Booked by SMS" in entry_history.history_change_reason
    assert "Patient replied YES" in (
        Offer.objects.get(pk=offers[0].pk).history.first().history_change_reason)


def test_unclear_intent_gets_the_choices(db):
    entry = WaitlistEntryFactory()
    assert handle_reply(patient=entry.patient, intent="maybe").template == "unclear_reply"
