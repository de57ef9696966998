"""Faults injected one at a time: none of them double-books, sends twice, or drops a slot.

These run with real transactions (`transaction=True`) so that on_commit work happens
exactly when it would in production.
"""

import datetime as dt
import threading
from contextlib import contextmanager

import kombu.exceptions
import pytest
from celery.app.task import Task as CeleryTask
from django.db import OperationalError, connection, connections
from django.utils import timezone

from clinic.tests.factories import ProviderFactory
from messaging import backends
from messaging.models import Message
from messaging.tasks import messages_housekeeping
from offers.models import Offer, Slot
from offers.services import offer_claim, slot_open
from offers.tasks import offers_sweep
from offers.tests.factories import SlotFactory
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sms_any_time(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.SMS_BACKEND = "console"
    settings.TWILIO_FROM_NUMBER = "+13125550100"
    settings.OFFER_BATCH_SIZE = 1


@contextmanager
def broker_down(monkeypatch, task_name: str | None = None):
    """Publishing fails as kombu fails when Redis refuses connections (for every task, or
    just one by name)."""
    real_apply_async = CeleryTask.apply_async

    def refuse(self, *args, **kwargs):
        if task_name is None or self.name == task_name:
            raise kombu.exceptions.OperationalError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return real_apply_async(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(CeleryTask, "apply_async", refuse)
        yield


def tomorrow_at(hour: int) -> dt.datetime:
    return (timezone.localtime() + dt.timedelta(days=1)).replace(
        hour=hour, minute=0, second=0, microsecond=0)


def age(queryset, minutes: float) -> None:
    """Pretend the rows were last touched `minutes` ago."""
    queryset.update(updated_at=timezone.now() - dt.timedelta(minutes=minutes))


def test_a_cancellation_recorded_while_the_broker_is_down_is_kept_and_offered_once_it_is_back(
        monkeypatch):
    entry = WaitlistEntryFactory()
    with broker_down(monkeypatch):
        slot = slot_open(provider=ProviderFactory(), start=tomorrow_at(10),
                         end=tomorrow_at(10) + dt.timedelta(minutes=20))

    # The staff member's work is saved, and nothing pretends it went out.
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert not Offer.objects.exists()
    assert not Message.objects.exists()

    # The broker is back; the beat sweep finds the slot whose first batch never ran.
    offers_sweep.delay()

    offer = Offer.objects.get(slot=slot)
    assert offer.entry == entry
    assert offer.status == Offer.Status.SENT
    assert Message.objects.get(offer=offer, kind="offer").status == Message.Status.SENT
    # A second sweep finds nothing more to do.
    assert offers_sweep.delay().get()["batches"] == 0


def test_offer_texts_queued_while_the_broker_is_down_go_out_once_it_is_back(monkeypatch):
    WaitlistEntryFactory()
    with broker_down(monkeypatch, task_name="messaging.tasks.message_deliver"):
        slot = slot_open(provider=ProviderFactory(), start=tomorrow_at(11),
                         end=tomorrow_at(11) + dt.timedelta(minutes=20))
    message = Message.objects.get(kind="offer")
    assert message.status == Message.Status.QUEUED
    offer = Offer.objects.get(slot=slot)
    # Nothing has reached the patient, so no hold is running yet.
    assert offer.status == Offer.Status.PENDING
    assert offer.hold_until is None

    offers_sweep.delay()  # too soon: the task may merely be slow
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED

    age(Message.objects.filter(pk=message.pk), minutes=2)
    result = messages_housekeeping.delay().get()
    assert result["messages_requeued"] == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    # The hold runs from the moment the text left.
    offer.refresh_from_db()
    assert offer.status == Offer.Status.SENT
    assert offer.sent_at == message.sent_at
    assert offer.hold_until == message.sent_at + dt.timedelta(minutes=7)


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: the call never returns."""


def test_a_worker_killed_mid_send_never_sends_twice_and_the_slot_moves_on(monkeypatch):
    first = WaitlistEntryFactory(added_at=timezone.now() - dt.timedelta(days=30))
    second = WaitlistEntryFactory()
    sends = []

    def send_then_die(self, message):
        sends.append(message.pk)
        raise WorkerKilled

    monkeypatch.setattr(backends.ConsoleBackend, "send", send_then_die)
    with pytest.raises(WorkerKilled):
        slot_open(provider=ProviderFactory(), start=tomorrow_at(12),
                  end=tomorrow_at(12) + dt.timedelta(minutes=20))
    first_offer = Offer.objects.get(entry=first)
    message = Message.objects.get(offer=first_offer)
    assert message.status == Message.Status.SENDING

    # The broker redelivers the unacknowledged task to another worker: it must not send.
    from messaging.tasks import message_deliver

    monkeypatch.undo()
    assert message_deliver.delay(message.pk).get() == Message.Status.SENDING
    assert sends == [message.pk]

    # Fifteen minutes on, the sweep settles it: failed (not resent), and the next patient
    # is offered the slot.
    age(Message.objects.filter(pk=message.pk), minutes=16)
    result = messages_housekeeping.delay().get()
    assert result["messages_stuck"] == 1
    message.refresh_from_db()
    first_offer.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert first_offer.status == Offer.Status.FAILED
    second_offer = Offer.objects.get(entry=second)
    assert second_offer.status == Offer.Status.SENT
    assert second_offer.slot_id == first_offer.slot_id
    assert Message.objects.filter(offer=first_offer).count() == 1


def live_offer_for(slot: Slot) -> Offer:
    entry = WaitlistEntryFactory()
    now = timezone.now()
    return Offer.objects.create(slot=slot, entry=entry, patient=entry.patient, batch=1,
                                status=Offer.Status.SENT, sent_at=now,
                                hold_until=now + dt.timedelta(minutes=7))


def assert_nothing_claimed(offer: Offer) -> None:
    offer.refresh_from_db()
    offer.slot.refresh_from_db()
    offer.entry.refresh_from_db()
    assert offer.status == Offer.Status.SENT
    assert offer.slot.status == Slot.Status.OFFERING
    assert offer.slot.filled_entry_id is None
    assert offer.entry.status == WaitlistEntry.Status.ACTIVE
    assert not Message.objects.filter(kind="confirmation").exists()


def test_a_connection_error_in_the_middle_of_a_claim_leaves_nothing_half_done(monkeypatch):
    offer = live_offer_for(SlotFactory())
    real_save = WaitlistEntry.save

    def drop_connection(self, *args, **kwargs):
        # The offer and the slot are already written inside the transaction.
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(WaitlistEntry, "save", drop_connection)
    with pytest.raises(OperationalError):
        offer_claim(patient=offer.patient)
    monkeypatch.setattr(WaitlistEntry, "save", real_save)

    assert_nothing_claimed(offer)
    # The patient's YES, tried again, books the slot.
    assert offer_claim(patient=offer.patient).outcome == "booked"


@pytest.mark.postgres
def test_a_backend_killed_by_the_server_mid_claim_rolls_the_claim_back(monkeypatch):
    offer = live_offer_for(SlotFactory())
    real_save = WaitlistEntry.save

    def kill_my_backend_then_save(self, *args, **kwargs):
        # From another connection, as an operator or a failover would: terminate ours.
        pid = connection.connection.info.backend_pid
        killer = threading.Thread(target=terminate_backend, args=(pid,))
        killer.start()
        killer.join()
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(WaitlistEntry, "save", kill_my_backend_then_save)
    with pytest.raises(OperationalError):
        offer_claim(patient=offer.patient)
    monkeypatch.setattr(WaitlistEntry, "save", real_save)
    connection.close()

    assert_nothing_claimed(offer)
    assert offer_claim(patient=offer.patient).outcome == "booked"


def terminate_backend(pid: int) -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        connections.close_all()




@pytest.fixture
def eager_retries():
    """Eager tasks run their retries in-process (countdowns are skipped)."""
    from clinic.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


TWILIO_DOWN = (503, {"code": 20503, "message": "Service unavailable", "status": 503})


def test_twilio_down_longer_than_the_retries_fails_the_offer_and_the_next_patient_is_tried(
        fake_twilio, eager_retries):
    from messaging.selectors import send_trouble
    from messaging.tasks import MAX_SEND_RETRIES

    first = WaitlistEntryFactory(added_at=timezone.now() - dt.timedelta(days=30))
    second = WaitlistEntryFactory()
    attempts = MAX_SEND_RETRIES + 1
    fake_twilio.answer_next(*[TWILIO_DOWN] * attempts)  # then Twilio is back

    slot = slot_open(provider=ProviderFactory(), start=tomorrow_at(13),
                     end=tomorrow_at(13) + dt.timedelta(minutes=20))

    to_first = [m for m in fake_twilio.sent if m["To"] == first.patient.phone]
    assert len(to_first) == attempts
    failed_message = Message.objects.get(offer__entry=first)
    assert failed_message.status == Message.Status.FAILED
    assert Offer.objects.get(entry=first).status == Offer.Status.FAILED
    second_offer = Offer.objects.get(entry=second)
    assert second_offer.slot == slot
    assert second_offer.status == Offer.Status.SENT
    assert Message.objects.get(offer=second_offer).status == Message.Status.ACCEPTED

    # The dashboard can tell the front desk that texts are failing, and why.
    trouble = send_trouble()
    assert trouble.is_outage
    assert trouble.failed == 1
    assert "503" in trouble.last_error or "Gave up" in trouble.last_error


def offer_held_up_by_an_outage(fake_twilio):
    """A slot offered to `first` (then `second`) while Twilio answers 503 to the first
    try: the offer text waits for its retry."""
    from messaging.selectors import send_trouble

    first = WaitlistEntryFactory(added_at=timezone.now() - dt.timedelta(days=30))
    second = WaitlistEntryFactory()
    fake_twilio.answer_next(TWILIO_DOWN)  # the first try fails; a retry is scheduled

    slot_open(provider=ProviderFactory(), start=tomorrow_at(14),
              end=tomorrow_at(14) + dt.timedelta(minutes=20))
    stuck = Message.objects.get(offer__entry=first)
    assert stuck.status == Message.Status.QUEUED
    assert send_trouble().retrying == 1
    offer = Offer.objects.get(entry=first)
    assert offer.status == Offer.Status.PENDING
    assert offer.hold_until is None
    return first, second, offer, stuck


def test_an_offer_text_held_up_by_an_outage_gets_its_whole_hold_from_when_it_leaves(
        fake_twilio):
    from messaging.tasks import message_deliver

    first, second, offer, stuck = offer_held_up_by_an_outage(fake_twilio)

    # Seven minutes pass while Twilio is down. Nothing reached the patient, so nothing
    # expires and nobody else is offered the slot meanwhile.
    Offer.objects.filter(pk=offer.pk).update(created_at=timezone.now() - dt.timedelta(minutes=7))
    result = offers_sweep.delay().get()
    assert (result["expired"], result["unsent_failed"]) == (0, 0)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING
    assert not Offer.objects.filter(entry=second).exists()

    # Twilio is back and the retry gets through: the seven minutes start now.
    message_deliver.delay(stuck.pk)
    stuck.refresh_from_db()
    offer.refresh_from_db()
    assert stuck.status == Message.Status.ACCEPTED
    assert offer.status == Offer.Status.SENT
    assert offer.sent_at == stuck.sent_at
    assert offer.hold_until == stuck.sent_at + dt.timedelta(minutes=7)
    assert offer.hold_until - timezone.now() > dt.timedelta(minutes=6)
    assert [m["To"] for m in fake_twilio.sent] == [first.patient.phone] * 2
    # The patient has the slot to themselves until then.
    assert offers_sweep.delay().get()["expired"] == 0
    assert not Offer.objects.filter(entry=second).exists()


def test_an_offer_text_stuck_past_the_retries_is_given_up_and_never_sent_late(fake_twilio):
    from messaging.tasks import message_deliver

    first, second, offer, stuck = offer_held_up_by_an_outage(fake_twilio)

    # Twenty minutes on the text has still not left (its retry was lost): the sweep gives
    # the offer up and the next patient is offered the slot.
    Offer.objects.filter(pk=offer.pk).update(created_at=timezone.now() - dt.timedelta(minutes=21))
    assert offers_sweep.delay().get()["unsent_failed"] == 1
    offer.refresh_from_db()
    assert offer.status == Offer.Status.FAILED
    assert Offer.objects.get(entry=second).status == Offer.Status.SENT

    # The lost retry finally runs: the stale offer is not texted.
    message_deliver.delay(stuck.pk)
    stuck.refresh_from_db()
    assert stuck.status == Message.Status.SUPPRESSED
    assert [m["To"] for m in fake_twilio.sent] == [first.patient.phone, second.patient.phone]
