"""Random sequences of replies, expiries, withdrawals and new cancellations must never
break the engine's promises."""

import datetime as dt
from unittest import mock

import kombu.exceptions
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clinic.tests.factories import ProviderFactory
from messaging.models import Message
from messaging.services import message_deliver
from messaging.tasks import message_deliver as message_deliver_task
from offers import services
from offers.models import Offer, Slot
from offers.replies import handle_reply
from offers.tests.conftest import pass_hold
from waitlist import services as waitlist_services
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

PATIENTS = 8


class OfferEngine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each run rolls back to here, so runs do not see each other's rows.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.providers = [ProviderFactory(), ProviderFactory()]
        self.entries = [
            WaitlistEntryFactory(boost=i * 3, any_provider=i % 3 != 0)
            for i in range(PATIENTS)
        ]
        for entry in self.entries:
            if not entry.any_provider:
                entry.providers.set([self.providers[entry.pk % 2]])
        self.slots: list[Slot] = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def act(self, call):
        with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            return call()

    @rule(provider=st.integers(0, 1), days=st.integers(1, 5), hour=st.integers(8, 16))
    def new_cancellation(self, provider, days, hour):
        start = (timezone.localtime() + dt.timedelta(days=days)).replace(
            hour=hour, minute=0, second=0, microsecond=0)
        slot = self.act(lambda: services.slot_open(
            provider=self.providers[provider], start=start, end=start + dt.timedelta(minutes=20)))
        self.slots.append(slot)

    @rule(provider=st.integers(0, 1), days=st.integers(1, 5), hour=st.integers(8, 16))
    def new_cancellation_while_texts_are_held_up(self, provider, days, hour):
        # The broker refuses the texts' delivery tasks: the offers wait to send.
        refused = kombu.exceptions.OperationalError("Connection refused")
        with mock.patch.object(message_deliver_task, "delay", side_effect=refused):
            self.new_cancellation(provider, days, hour)

    @rule(data=st.data())
    def a_held_up_text_leaves(self, data):
        queued = list(Message.objects.filter(kind="offer", status=Message.Status.QUEUED)
                      .order_by("pk").values_list("pk", flat=True))
        if not queued:
            return
        message_id = data.draw(st.sampled_from(queued))
        self.act(lambda: message_deliver(message_id=message_id))
        offer = Offer.objects.get(messages__pk=message_id)
        assert offer.status != Offer.Status.PENDING

    @rule(data=st.data())
    def a_held_up_text_is_given_up(self, data):
        pending = list(Offer.objects.filter(status=Offer.Status.PENDING).order_by("pk"))
        if not pending:
            return
        offer = data.draw(st.sampled_from(pending))
        Offer.objects.filter(pk=offer.pk).update(
            created_at=timezone.now() - dt.timedelta(minutes=21))
        self.act(services.offers_give_up_unsent)
        assert Offer.objects.get(pk=offer.pk).status == Offer.Status.FAILED

    @rule(who=st.integers(0, PATIENTS - 1))
    def yes(self, who):
        patient = self.entries[who].patient
        answer = self.act(lambda: handle_reply(patient=patient, intent="yes"))
        assert answer.template in {"confirmation", "already_filled", "offer_expired",
                                   "nothing_to_answer", "offer_closed",
                                   "offer_closed_off_waitlist"}

    @rule(who=st.integers(0, PATIENTS - 1))
    def no(self, who):
        patient = self.entries[who].patient
        answer = self.act(lambda: handle_reply(patient=patient, intent="no"))
        assert answer.template in {"declined", "nothing_to_answer", "offer_closed_off_waitlist"}

    @rule(who=st.integers(0, PATIENTS - 1))
    def leave_waitlist(self, who):
        entry = WaitlistEntry.objects.get(pk=self.entries[who].pk)
        if entry.status == WaitlistEntry.Status.ACTIVE:
            self.act(lambda: waitlist_services.entry_remove(entry=entry, reason="test"))

    @rule(data=st.data())
    def hold_passes(self, data):
        live = list(Offer.objects.filter(status=Offer.Status.SENT).order_by("pk"))
        if not live:
            return
        offer = data.draw(st.sampled_from(live))
        pass_hold([offer])
        assert self.act(lambda: services.offer_expire(offer_id=offer.pk)) is True

    @rule()
    def sweep(self):
        self.act(services.offers_expire_due)

    @rule(data=st.data())
    def withdraw(self, data):
        if not self.slots:
            return
        slot = data.draw(st.sampled_from(self.slots))
        try:
            self.act(lambda: services.slot_withdraw(slot=slot, by=None, reason="test"))
        except ValidationError:
            assert Slot.objects.get(pk=slot.pk).status == Slot.Status.FILLED

    @invariant()
    def never_two_bookings_for_one_slot(self):
        accepted = (Offer.objects.filter(status="accepted").values("slot")
                    .annotate(n=Count("id")).filter(n__gt=1))
        assert not accepted.exists()
        for slot in Slot.objects.filter(status="filled"):
            offer = Offer.objects.get(slot=slot, status="accepted")
            assert slot.filled_entry_id == offer.entry_id

    @invariant()
    def a_booking_is_one_slot_for_one_entry(self):
        booked = WaitlistEntry.objects.filter(status="booked")
        filled = Slot.objects.filter(status="filled")
        assert booked.count() == filled.count()
        assert set(booked.values_list("pk", flat=True)) == set(
            filled.values_list("filled_entry_id", flat=True))

    @invariant()
    def no_live_offer_on_a_closed_slot(self):
        assert not Offer.objects.filter(status__in=Offer.LIVE_STATUSES).exclude(
            slot__status=Slot.Status.OFFERING).exists()

    @invariant()
    def an_offering_slot_always_has_an_offer_out(self):
        # Nothing may stall a slot: once every queued task has run, a slot still being
        # offered has someone holding it.
        for slot in Slot.objects.filter(status=Slot.Status.OFFERING):
            assert slot.waiting_for or slot.offers.filter(
                status__in=Offer.LIVE_STATUSES).exists()

    @invariant()
    def a_hold_runs_only_from_when_the_text_left(self):
        from django.conf import settings

        assert not Offer.objects.filter(status=Offer.Status.PENDING).exclude(
            sent_at=None, hold_until=None).exists()
        for offer in Offer.objects.filter(status=Offer.Status.SENT):
            text = offer.messages.get(kind="offer")
            assert offer.sent_at == text.sent_at
            assert offer.hold_until == offer.sent_at + dt.timedelta(
                seconds=settings.OFFER_HOLD_SECONDS)

    @invariant()
    def batch_sizes_are_respected(self):
        from django.conf import settings

        sizes = Offer.objects.values("slot", "batch").annotate(n=Count("id"))
        assert all(row["n"] <= settings.OFFER_MAX_BATCH_SIZE for row in sizes)
        for slot in Slot.objects.all():
            batches = set(slot.offers.values_list("batch", flat=True))
            assert batches == set(range(1, slot.current_batch + 1))

    @invariant()
    def one_live_offer_per_patient(self):
        live = (Offer.objects.filter(status__in=Offer.LIVE_STATUSES).values("patient")
                .annotate(n=Count("id")).filter(n__gt=1))
        assert not live.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_random_event_sequences_keep_the_invariants(settings):
    settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
    settings.OFFER_BATCH_SIZE = 2
    settings.OFFER_MAX_BATCH_SIZE = 4
    run_state_machine_as_test(
        OfferEngine,
        settings=hypothesis_settings(
            max_examples=30, stateful_step_count=20, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
