"""Every attempt to send an offer's text, retries included, checks under the same claim
that its offer is still live and that texting hours are open; a text in flight when its
offer ends is followed, not preceded, by the "no longer available" notice. (Issue 11,
item 3.) Twilio is faked at the HTTP layer."""

import datetime as dt

import pytest
from django.utils import timezone

from messaging.backends import TemporarySendError
from messaging.models import Message
from messaging.services import message_deliver
from messaging.tests.twilio_fakes import fake_twilio  # noqa: F401  (a shared fixture)
from offers import services
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, waitlist

pytestmark = pytest.mark.django_db

TWILIO_DOWN = (503, {"code": 20503, "message": "Service unavailable", "status": 503})


def offer_text(offer) -> Message:
    return Message.objects.get(offer=offer, kind="offer")


def offers_waiting_to_send(slot):
    services.slot_offer_next_batch(slot_id=slot.pk)
    return live(slot)


class EndsMidSend:
    """Twilio answers 503, and while the SDK waits for that answer the offer ends (staff
    withdraw the slot): the text is mid-send, so withdrawing cannot stop it."""

    def __init__(self, transport, end):
        self.transport, self.end = transport, end
        self.original = transport.send

    def __call__(self, request, **kwargs):
        self.transport.send = self.original
        self.end()
        return self.original(request, **kwargs)


def test_a_retried_offer_text_is_not_sent_after_its_offer_ended(
        provider, commit, fake_twilio, front_desk_user):  # noqa: F811
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    fake_twilio.answer_next(TWILIO_DOWN)
    fake_twilio.send = EndsMidSend(fake_twilio, lambda: services.slot_withdraw(
        slot=slot, by=front_desk_user))

    with pytest.raises(TemporarySendError), commit():
        message_deliver(message_id=offer_text(offer).pk)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SUPERSEDED
    # Back in the queue for its retry, as a temporary failure is.
    assert offer_text(offer).status == Message.Status.QUEUED

    with commit():
        status = message_deliver(message_id=offer_text(offer).pk)

    # Before: the retry sent the offer after "no longer available". Now: never again.
    assert status == Message.Status.SUPPRESSED
    assert len(fake_twilio.requests) == 1
    assert offer_text(offer).status == Message.Status.SUPPRESSED


def test_offer_text_retries_stop_at_the_end_of_texting_hours(
        provider, commit, fake_twilio, settings):  # noqa: F811
    waitlist(3)
    slot = open_slot(provider, start=timezone.now() + dt.timedelta(days=3))
    offer = offers_waiting_to_send(slot)[0]
    fake_twilio.answer_next(TWILIO_DOWN)
    with pytest.raises(TemporarySendError), commit():
        message_deliver(message_id=offer_text(offer).pk)

    # Texting hours end before the retry.
    now = timezone.localtime()
    settings.SMS_SEND_HOURS = ((now + dt.timedelta(hours=1)).time().replace(microsecond=0),
                               (now + dt.timedelta(hours=2)).time().replace(microsecond=0))
    if settings.SMS_SEND_HOURS[1] <= settings.SMS_SEND_HOURS[0]:
        settings.SMS_SEND_HOURS = ((now - dt.timedelta(hours=2)).time(),
                                   (now - dt.timedelta(hours=1)).time())
    with commit():
        status = message_deliver(message_id=offer_text(offer).pk)

    assert status == Message.Status.SUPPRESSED
    assert len(fake_twilio.requests) == 1
    offer.refresh_from_db()
    # The offer never reached the patient: it fails, and the slot waits for the hours.
    assert offer.status == Offer.Status.FAILED
    assert "texting hours" in offer.history.first().history_change_reason


def test_an_offer_text_still_leaves_while_its_offer_is_live(
        provider, commit, fake_twilio):  # noqa: F811
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    fake_twilio.answer_next(TWILIO_DOWN)
    with pytest.raises(TemporarySendError), commit():
        message_deliver(message_id=offer_text(offer).pk)

    with commit():
        status = message_deliver(message_id=offer_text(offer).pk)

    assert status == Message.Status.ACCEPTED
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SENT


def test_a_text_in_flight_when_its_slot_closes_is_followed_by_the_notice_not_preceded(
        provider, commit, fake_twilio, front_desk_user):  # noqa: F811
    waitlist(3)
    slot = open_slot(provider)
    offer = offers_waiting_to_send(slot)[0]
    # Staff withdraw the slot while Twilio is taking this text (it answers 201).
    fake_twilio.send = EndsMidSend(fake_twilio, lambda: services.slot_withdraw(
        slot=slot, by=front_desk_user))

    with commit():
        message_deliver(message_id=offer_text(offer).pk)

    slot.refresh_from_db()
    assert slot.status == Slot.Status.WITHDRAWN
    to_patient = list(Message.objects.filter(patient=offer.patient, direction="out")
                      .order_by("created_at", "pk").values_list("kind", flat=True))
    # The patient got the offer after all; the notice comes after it, once.
    assert to_patient == ["offer", "offer_closed"]
    notice = Message.objects.get(patient=offer.patient, kind="offer_closed")
    assert notice.created_at >= offer_text(offer).sent_at
