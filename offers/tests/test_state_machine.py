"""A busy day at random: several providers, 6-12 slots opened at once over 10-30 patients
(some waiting for two visits), replies on time and late, holds that pass, sweeps, texts
held up by the broker that leave, fail for a while and are retried, or fail for good,
texting hours that close and open, patients who opt out and back in or say it is a wrong
number, and staff who add and remove entries, withdraw slots, offer to more, fill by phone
and undo it within its window or let the window pass. After every step the engine's
promises hold (issue 11, "Done when"; a fill by phone is told only after its undo window,
issue 13; nothing is texted to a number reported wrong, issue 12). Twilio is faked at the
HTTP layer.

Runs on SQLite in the default suite and on PostgreSQL in `make test` (CI). Its size is
tuned to under a minute per database on a shared 2-core machine (MAX_EXAMPLES, STEPS).
"""

import contextlib
import datetime as dt
import itertools
from collections import Counter
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from messaging.backends import PermanentSendError, TemporarySendError
from messaging.models import Message, MessageStatusEvent
from messaging.services import inbound_handle, message_deliver
from messaging.tasks import message_deliver as message_deliver_task
from messaging.tests.twilio_fakes import faked_twilio, twilio_error
from offers import phone_fill, services
from offers.models import Offer, Slot
from offers.selectors import slot_busy_fitting_entries, slot_candidates, slot_fitting_entries
from offers.tests.conftest import pass_hold
from waitlist import services as waitlist_services
from waitlist.models import WaitlistEntry
from waitlist.tests.factories import WaitlistEntryFactory

# Days per run: PostgreSQL pays a network round trip per statement, so it plays fewer.
MAX_EXAMPLES = {"sqlite": 20, "postgresql": 12}
STEPS = 50
CLINIC = "+13125550100"
TWILIO_DOWN = (503, {"code": 20503, "message": "Service unavailable", "status": 503})
LIVE = Offer.LIVE_STATUSES
NAMES = ["Ana", "Brooke", "Matt", "Lucía", "Jon", "Anna", "Lee", "Sofía", "Omar", "Kim"]


class BusyDay(RuleBasedStateMachine):
    # Set by the test: the pytest-django settings fixture and the fake Twilio transport.
    settings = None
    twilio = None
    # What the runs reached, so the test can show it explored the busy day.
    reached: Counter = Counter()

    def __init__(self):
        super().__init__()
        # Each run rolls back to here, so runs do not see each other's rows.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
        self.broker_down = False
        self.sids = itertools.count()
        self.slots: list[Slot] = []
        self.patients = []
        self.last_event_checked = 0
        # Offers whose hold the test made pass (moving hold_until into the past).
        self.hold_passed: set[int] = set()
        self.wrong_numbers = 0

    def teardown(self):
        # What the run reached (pytest --hypothesis-show-statistics).
        for status, waiting in Slot.objects.values_list("status", "waiting_for"):
            self.reached[f"a slot ends {status} {waiting}".strip()] += 1
        for kind, status in Message.objects.filter(direction="out").values_list("kind",
                                                                                 "status"):
            self.reached[f"a {kind} text ends {status}"] += 1
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -----------------------------------------------------------------
    def act(self, call):
        """One event, committed as it would be (its after-commit work runs). With the
        broker down, texts are queued but no delivery task runs."""
        no_delivery = mock.patch.object(message_deliver_task, "delay", return_value=None)
        with (no_delivery if self.broker_down else contextlib.nullcontext()), \
                TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            return call()

    def patient_by_pk(self, pk):
        return next(p for p in self.patients if p.pk == pk)

    def patient(self, index):
        return self.patients[index % len(self.patients)]

    def start(self, day, hour):
        return (timezone.localtime() + dt.timedelta(days=day)).replace(
            hour=hour, minute=0, second=0, microsecond=0)

    def text(self, patient, body):
        sid = f"SM{next(self.sids):032d}"
        return self.act(lambda: inbound_handle(from_number=patient.phone, to_number=CLINIC,
                                               body=body, sid=sid))

    def text_kind(self, patient, body) -> str:
        self.text(patient, body)
        return Message.objects.filter(patient=patient, direction="out").latest("pk").kind

    def not_handed_over(self, patient) -> dict[int, str]:
        """The patient's offers whose text has not left: a reply must not change them."""
        return dict(Offer.objects.filter(patient=patient, sent_at__isnull=True).exclude(
            messages__kind="offer", messages__sent_at__isnull=False)
            .values_list("pk", "status"))

    # --- the day opens -----------------------------------------------------------
    @initialize(patients=st.integers(10, 30), twice=st.integers(1, 6),
                slots=st.integers(6, 12), broker_down=st.booleans(), data=st.data())
    def a_provider_calls_in_sick(self, patients, twice, slots, broker_down, data):
        self.broker_down = broker_down
        self.providers = [ProviderFactory() for _ in range(3)]
        self.types = [AppointmentTypeFactory(code=code, name=code, duration_minutes=20)
                      for code in ("checkup", "scan")]
        for i in range(patients):
            # Names of our own, not Faker's: a reply that names the patient ("I'm not
            # Brooke") then means the same thing when Hypothesis replays the day.
            patient = PatientFactory(first_name=NAMES[i % len(NAMES)], last_name=f"Day{i}")
            self.patients.append(patient)
            providers = ([] if i % 3 == 0 else [self.providers[i % 3]]
                         + ([self.providers[0]] if i % 4 == 0 else []))
            WaitlistEntryFactory(patient=patient, providers=providers, boost=(i * 7) % 41,
                                 appointment_type=self.types[i % 2] if i % 5 else None)
        for patient in self.patients[:twice]:
            # A second visit: the other appointment type, any provider.
            taken = patient.waitlist_entries.get().appointment_type
            other = next(t for t in self.types if t != taken)
            WaitlistEntryFactory(patient=patient, appointment_type=other)
        # Most slots are one provider's day (the sick one), the rest others'.
        for i in range(slots):
            provider = self.providers[0] if i < slots * 2 // 3 else self.providers[1 + i % 2]
            kind = data.draw(st.sampled_from([None, *self.types]), label=f"slot {i} type")
            start = self.start(2 + i // 6, 8 + i % 6)
            self.slots.append(self.act(lambda p=provider, s=start, k=kind: services.slot_open(
                provider=p, start=s, end=s + dt.timedelta(minutes=20), appointment_type=k)))

    # --- patients ------------------------------------------------------------------
    def reply(self, patient, body):
        unseen = self.not_handed_over(patient)
        self.reached[f"a reply answered with {self.text_kind(patient, body)}"] += 1
        # A reply never acts on an offer whose text had not been handed over.
        for pk, status in unseen.items():
            assert Offer.objects.get(pk=pk).status == status

    @precondition(lambda self: Offer.objects.filter(status__in=LIVE).exists())
    @rule(data=st.data(), body=st.sampled_from(["YES", "yes please", "NO"]))
    def a_patient_with_an_offer_replies(self, data, body):
        offered = list(Offer.objects.filter(status__in=LIVE).order_by("pk")
                       .values_list("patient_id", flat=True))
        if offered:
            self.reply(self.patient_by_pk(data.draw(st.sampled_from(offered))), body)

    @precondition(lambda self: Offer.objects.filter(status=Offer.Status.EXPIRED).exists())
    @rule(data=st.data())
    def a_late_yes(self, data):
        """After the hold ended: taken only if nobody else holds the slot."""
        late = list(Offer.objects.filter(status=Offer.Status.EXPIRED).order_by("pk")
                    .values_list("patient_id", flat=True))
        if late:
            self.reply(self.patient_by_pk(data.draw(st.sampled_from(late))), "YES")

    @precondition(lambda self: Offer.objects.filter(status=Offer.Status.PENDING).exists())
    @rule(data=st.data(), body=st.sampled_from(["YES", "NO"]))
    def a_patient_whose_newest_offer_is_still_queued_replies(self, data, body):
        """Their reply is about an earlier offer (or none), never the one not received."""
        waiting = list(Offer.objects.filter(status=Offer.Status.PENDING).order_by("pk")
                       .values_list("patient_id", flat=True))
        if waiting:
            self.reply(self.patient_by_pk(data.draw(st.sampled_from(waiting))), body)

    @rule(who=st.integers(0, 29), body=st.sampled_from(["YES", "NO"]))
    def anyone_replies(self, who, body):
        self.reply(self.patient(who), body)

    @rule(who=st.integers(0, 29), body=st.sampled_from(["STOP", "START"]))
    def a_patient_opts_out_or_back_in(self, who, body):
        self.text(self.patient(who), body)

    # Two a day at most: each takes a patient out of the day for good.
    @precondition(lambda self: self.wrong_numbers < 2)
    @rule(data=st.data(), body=st.sampled_from(["wrong number", "I'm not {name}"]))
    def someone_at_a_patients_number_says_it_is_a_wrong_number(self, data, body):
        self.wrong_numbers += 1
        offered = list(Offer.objects.filter(status__in=LIVE).order_by("pk")
                       .values_list("patient_id", flat=True))
        patient = (self.patient_by_pk(data.draw(st.sampled_from(offered))) if offered
                   else data.draw(st.sampled_from(self.patients)))
        # Not self.reply: a wrong number is the one reply that ends an offer whose text
        # has not left, since that text must never go to this number (it would be
        # suppressed and fail anyway).
        kind = self.text_kind(patient, body.format(name=patient.first_name))
        self.reached[f"a reply answered with {kind}"] += 1
        patient.refresh_from_db()
        assert patient.phone_wrong_at is not None
        # Its live offer failed at once (never a booking); its slot moved on.
        assert not Offer.objects.filter(patient=patient, status__in=LIVE).exists()

    # --- time ----------------------------------------------------------------------
    @precondition(lambda self: Offer.objects.filter(status=Offer.Status.SENT).exists())
    @rule(data=st.data())
    def a_hold_passes(self, data):
        sent = list(Offer.objects.filter(status=Offer.Status.SENT).order_by("pk"))
        if not sent:
            return
        offer = data.draw(st.sampled_from(sent))
        pass_hold([offer])
        self.hold_passed.add(offer.pk)
        if data.draw(st.booleans(), label="expired at once (else: a late reply first)"):
            self.act(lambda: services.offer_expire(offer_id=offer.pk))

    @rule()
    def the_sweep_runs(self):
        for step in (services.offers_expire_due, services.offers_start_missed_holds,
                     services.offers_give_up_unsent, services.slots_resume,
                     services.slots_phone_fill_announce_due):
            self.act(step)

    @precondition(lambda self: Offer.objects.filter(status=Offer.Status.PENDING).exists())
    @rule(data=st.data())
    def a_held_up_text_is_given_up(self, data):
        pending = list(Offer.objects.filter(status=Offer.Status.PENDING).order_by("pk"))
        if not pending:
            return
        offer = data.draw(st.sampled_from(pending))
        Offer.objects.filter(pk=offer.pk).update(
            created_at=timezone.now() - dt.timedelta(minutes=21))
        self.act(services.offers_give_up_unsent)

    @rule(open_=st.booleans())
    def texting_hours_close_or_open(self, open_):
        if open_:
            self.settings.SMS_SEND_HOURS = (dt.time(0, 0), None)
            self.act(services.slots_resume)  # the beat sweep when the hours open
        else:
            now = timezone.localtime()
            hour = (now.hour + 12) % 24
            self.settings.SMS_SEND_HOURS = (dt.time(hour), dt.time(hour + 1)
                                            if hour < 23 else None)

    # --- the SMS channel -----------------------------------------------------------
    @rule(down=st.booleans())
    def the_broker_goes_down_or_comes_back(self, down):
        self.broker_down = down

    @precondition(lambda self: Message.objects.filter(status=Message.Status.QUEUED).exists())
    @rule(data=st.data(), outcome=st.sampled_from(
        ["ok", "ok", "temporary", "permanent", "temporary while its slot is withdrawn"]))
    def a_queued_text_is_sent(self, data, outcome):
        self.send(data, outcome, Message.objects.filter(status=Message.Status.QUEUED))

    @precondition(lambda self: Message.objects.filter(status=Message.Status.QUEUED, attempts__gt=0).exists())
    @rule(data=st.data(), outcome=st.sampled_from(["ok", "temporary"]))
    def a_text_that_failed_for_a_while_is_retried(self, data, outcome):
        self.send(data, outcome, Message.objects.filter(status=Message.Status.QUEUED,
                                                        attempts__gt=0))

    @precondition(lambda self: Message.objects.filter(
        status=Message.Status.QUEUED, kind="offer").exists())
    @rule(data=st.data())
    def an_offer_text_fails_mid_send_as_its_slot_closes_and_is_retried(self, data):
        self.send(data, "temporary while its slot is withdrawn",
                  Message.objects.filter(status=Message.Status.QUEUED, kind="offer"))
        self.send(data, "ok", Message.objects.filter(status=Message.Status.QUEUED,
                                                     kind="offer", attempts__gt=0))

    def send(self, data, outcome, messages):
        queued = list(messages.filter(direction="out").order_by("pk")
                      .values_list("pk", "subject_id", "kind"))
        if not queued:
            return
        message_id, offer_id, kind = data.draw(st.sampled_from(queued))
        self.reached[f"a {kind} text sent: {outcome}"] += 1
        hours_open = services.sms_hours_open()
        transport_send = self.twilio.send
        if outcome.startswith("temporary"):
            self.twilio.answer_next(TWILIO_DOWN)
        elif outcome == "permanent":
            self.twilio.answer_next(twilio_error(21617))  # refused, not about the patient
        if outcome.endswith("withdrawn") and offer_id:
            slot = Offer.objects.get(pk=offer_id).slot

            def withdrawn_mid_send(request, **kwargs):
                # Staff withdraw the slot while Twilio is taking the text (it fails).
                self.twilio.send = transport_send
                try:
                    services.slot_withdraw(slot=slot, by=None, reason="test")
                except ValidationError:
                    pass
                return transport_send(request, **kwargs)

            self.twilio.send = withdrawn_mid_send
        def deliver():
            # Inside the step's transaction: what the failed attempt recorded (queued again
            # for a retry) is committed, as it is in production before Celery retries.
            try:
                message_deliver(message_id=message_id)
            except (TemporarySendError, PermanentSendError):
                pass

        try:
            self.act(deliver)
        finally:
            self.twilio.send = transport_send
            self.twilio.script.clear()
        if kind == "offer" and not hours_open:
            # Offer texts, retries included, stop at the end of texting hours.
            assert Message.objects.get(pk=message_id).sent_at is None

    # --- staff ---------------------------------------------------------------------
    @rule(data=st.data())
    def staff_withdraw_a_slot(self, data):
        slot = data.draw(st.sampled_from(self.slots))
        try:
            self.act(lambda: services.slot_withdraw(slot=slot, by=None, reason="test"))
        except ValidationError:
            assert Slot.objects.get(pk=slot.pk).status == Slot.Status.FILLED

    @rule(data=st.data())
    def staff_offer_a_slot_to_more(self, data):
        slot = data.draw(st.sampled_from(self.slots))
        try:
            self.act(lambda: services.slot_offer_more(slot=slot, by=None))
        except ValidationError:
            pass

    @rule(data=st.data(), pick=st.sampled_from(["an offer's patient", "any entry", "nobody"]))
    def staff_fill_a_slot_by_phone(self, data, pick):
        slot = data.draw(st.sampled_from(self.slots))
        entry = None
        if pick == "an offer's patient":
            offers = list(Offer.objects.filter(slot=slot, status__in=LIVE).order_by("pk"))
            entry = data.draw(st.sampled_from(offers)).entry if offers else None
        elif pick == "any entry":
            active = list(WaitlistEntry.objects.filter(status="active").order_by("pk"))
            entry = data.draw(st.sampled_from(active)) if active else None
        try:
            self.act(lambda: services.slot_mark_filled_by_phone(slot=slot, by=None,
                                                                entry=entry))
        except ValidationError:
            pass

    def phone_fills(self):
        return list(Slot.objects.filter(status=Slot.Status.FILLED,
                                        filled_via=Slot.FilledVia.PHONE).order_by("pk"))

    @precondition(lambda self: Slot.objects.filter(filled_via=Slot.FilledVia.PHONE).exists())
    @rule(data=st.data())
    def staff_undo_a_fill_by_phone(self, data):
        filled = self.phone_fills()
        if not filled:
            return
        slot = data.draw(st.sampled_from(filled))
        try:
            self.act(lambda: services.slot_phone_fill_undo(slot=slot, by=None))
        except ValidationError:
            assert services.phone_fill_undo_until(slot) is None  # its window had passed
            return
        self.reached["a fill by phone undone"] += 1
        assert Slot.objects.get(pk=slot.pk).status != Slot.Status.FILLED
        # Only offers still their patient's newest come back (a reply is about that one).
        for offer in Offer.objects.filter(slot=slot, status__in=LIVE):
            assert offer.pk == Offer.objects.filter(patient_id=offer.patient_id).latest(
                "pk").pk

    @precondition(lambda self: Slot.objects.filter(filled_via=Slot.FilledVia.PHONE).exists())
    @rule(data=st.data())
    def the_undo_window_of_a_fill_by_phone_passes(self, data):
        """As if its two minutes went by: the fill and what followed it move back."""
        filled = [slot for slot in self.phone_fills() if services.phone_fill_undo_until(slot)]
        if not filled:
            return
        slot = data.draw(st.sampled_from(filled))
        back = dt.timedelta(seconds=django_settings.PHONE_FILL_UNDO_SECONDS + 1)
        Slot.objects.filter(pk=slot.pk).update(closed_at=F("closed_at") - back)
        Message.objects.filter(offer__slot=slot).update(created_at=F("created_at") - back)
        self.act(services.slots_phone_fill_announce_due)
        self.reached["a fill by phone announced"] += 1
        slot.refresh_from_db()
        # Everyone it concerned has heard what is true now, once, unless no text may
        # reach them any more.
        for offer in phone_fill._phone_fill_offers(slot):
            reached = offer.messages.filter(kind="offer", sent_at__isnull=False).exists()
            told = offer.messages.filter(direction="out", created_at__gte=slot.closed_at
                                         ).exclude(kind="offer").exists()
            offer.patient.refresh_from_db()
            assert told or not reached or not offer.patient.can_receive_sms, offer

    @rule(who=st.integers(0, 29))
    def staff_remove_an_entry(self, who):
        entry = WaitlistEntry.objects.filter(patient=self.patient(who),
                                             status="active").first()
        if entry is not None:
            self.act(lambda: waitlist_services.entry_remove(entry=entry, reason="test"))

    @rule(who=st.integers(0, 29), kind=st.integers(0, 1))
    def staff_add_an_entry(self, who, kind):
        try:
            self.act(lambda: waitlist_services.entry_add(
                patient=self.patient(who), any_provider=True, appointment_type=self.types[kind]))
        except ValidationError:
            pass  # the same visit twice is refused

    @precondition(lambda self: len(self.slots) < 12)
    @rule(provider=st.integers(0, 2), day=st.integers(2, 4), hour=st.integers(8, 16))
    def another_cancellation(self, provider, day, hour):
        start = self.start(day, hour)
        self.slots.append(self.act(lambda: services.slot_open(
            provider=self.providers[provider], start=start,
            end=start + dt.timedelta(minutes=20))))

    # --- the promises ----------------------------------------------------------------
    @invariant()
    def never_two_bookings_for_one_slot_or_one_entry(self):
        assert not (Offer.objects.filter(status="accepted").values("slot")
                    .annotate(n=Count("id")).filter(n__gt=1).exists())
        filled = Slot.objects.filter(status="filled")
        booked_entries = list(filled.exclude(filled_entry=None)
                              .values_list("filled_entry_id", flat=True))
        assert len(booked_entries) == len(set(booked_entries))
        assert set(booked_entries) == set(
            WaitlistEntry.objects.filter(status="booked").values_list("pk", flat=True))
        for slot in filled.filter(filled_via=Slot.FilledVia.SMS):
            assert Offer.objects.get(slot=slot, status="accepted").entry_id == \
                slot.filled_entry_id
        for offer in Offer.objects.filter(status="accepted").select_related("slot"):
            assert offer.slot.status == Slot.Status.FILLED
            assert offer.slot.filled_entry.patient_id == offer.patient_id

    @invariant()
    def nobody_is_booked_into_two_overlapping_slots(self):
        booked = list(Slot.objects.filter(status="filled").exclude(filled_entry=None)
                      .values_list("filled_entry__patient_id", "start", "end"))
        for (p1, s1, e1), (p2, s2, e2) in itertools.combinations(booked, 2):
            assert p1 != p2 or e1 <= s2 or e2 <= s1

    @invariant()
    def no_slot_is_unfilled_while_someone_who_fits_is_left(self):
        lead = dt.timedelta(minutes=django_settings.OFFER_MIN_LEAD_MINUTES)
        for slot in Slot.objects.filter(status="unfilled", start__gt=timezone.now() + lead):
            assert slot.unfilled_reason != Slot.UnfilledReason.TOO_SOON
            # Not even a busy one: a slot whose patients are busy waits.
            assert not slot_fitting_entries(slot=slot).exists(), slot

    @invariant()
    def an_offering_slot_has_an_offer_out_or_says_truly_why_it_waits(self):
        for slot in Slot.objects.filter(status="offering"):
            live = slot.offers.filter(status__in=LIVE).exists()
            if live:
                continue
            assert slot.waiting_for, slot
            if slot.waiting_for == Slot.WaitingFor.BUSY_PATIENTS:
                assert not slot_candidates(slot=slot).exists(), slot
                assert slot_busy_fitting_entries(slot=slot).exists(), slot
            else:
                assert not services.sms_hours_open()

    @invariant()
    def no_offer_text_leaves_after_its_offer_ended(self):
        # Every attempt to send an offer's text (its "sending" event, retries included)
        # came while the offer was live: before the first history row that ended it.
        attempts = (MessageStatusEvent.objects.filter(
            pk__gt=self.last_event_checked, status=Message.Status.SENDING,
            message__kind="offer").values_list("pk", "at", "message__subject_id"))
        for pk, at, offer_id in attempts:
            ended = (Offer.history.filter(id=offer_id).exclude(status__in=LIVE)
                     .order_by("history_date").values_list("history_date", flat=True).first())
            assert ended is None or at < ended, f"offer {offer_id}'s text left after it ended"
            self.last_event_checked = max(self.last_event_checked, pk)

    @invariant()
    def nobody_hears_of_a_fill_by_phone_while_it_may_still_be_undone(self):
        # Proactive texts (queued for delivery: a status event, or still queued), not the
        # answers to a patient's own reply.
        proactive = (Q(status=Message.Status.QUEUED)
                     | Exists(MessageStatusEvent.objects.filter(message=OuterRef("pk"))))
        for slot in self.phone_fills():
            if services.phone_fill_undo_until(slot) is None:
                continue
            assert not Message.objects.filter(
                proactive, offer__slot=slot, direction="out",
                created_at__gte=slot.closed_at).exclude(kind="offer").exists(), slot

    @invariant()
    def nothing_is_texted_to_a_number_once_it_was_reported_wrong(self):
        # Handed to Twilio (a proactive text: it has status events) after the report.
        assert not Message.objects.filter(
            direction="out", patient__phone_wrong_at__isnull=False,
            sent_at__gt=F("patient__phone_wrong_at"),
            status_events__status=Message.Status.SENDING).exists()
        assert not Offer.objects.filter(status__in=LIVE,
                                        patient__phone_wrong_at__isnull=False).exists()

    @invariant()
    def a_hold_runs_only_from_when_the_text_left(self):
        assert not Offer.objects.filter(status=Offer.Status.PENDING).filter(
            Q(sent_at__isnull=False) | Q(hold_until__isnull=False)).exists()
        for offer in Offer.objects.filter(status=Offer.Status.SENT).exclude(
                pk__in=self.hold_passed):
            text = offer.messages.get(kind="offer")
            assert offer.sent_at == text.sent_at
            assert offer.hold_until == offer.sent_at + dt.timedelta(
                seconds=django_settings.OFFER_HOLD_SECONDS)

    @invariant()
    def one_live_offer_per_patient_and_batches_within_their_size(self):
        assert not (Offer.objects.filter(status__in=LIVE).values("patient")
                    .annotate(n=Count("id")).filter(n__gt=1).exists())
        sizes = Offer.objects.values("slot", "batch").annotate(n=Count("id"))
        assert all(row["n"] <= django_settings.OFFER_MAX_BATCH_SIZE for row in sizes)
        assert not Offer.objects.filter(status__in=LIVE).exclude(slot__status="offering").exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_a_random_busy_day_keeps_every_promise_after_every_step(settings, monkeypatch):
    settings.OFFER_BATCH_SIZE = 2
    settings.OFFER_MAX_BATCH_SIZE = 4
    # Its few patients are offered slot after slot within minutes: the fatigue caps
    # (test_fatigue.py) would leave most of the day's corners unexplored.
    settings.OFFER_MIN_GAP_MINUTES = 0
    settings.OFFER_TEXTS_PER_DAY = 50
    settings.OFFER_TEXTS_PER_WEEK = 200
    with faked_twilio(monkeypatch) as transport:
        BusyDay.settings, BusyDay.twilio = settings, transport
        BusyDay.reached.clear()
        run_state_machine_as_test(
            BusyDay,
            settings=hypothesis_settings(
                max_examples=MAX_EXAMPLES.get(connection.vendor, 12),
                stateful_step_count=STEPS, deadline=None,
                # No shrinking: a failure prints its whole sequence of steps, and shrinking
                # a database-backed day can outlast the test's timeout.
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture],
            ),
        )
    # It explored a busy day, not only quiet corners of one.
    assert BusyDay.reached["a reply answered with confirmation"]
    assert BusyDay.reached["a offer text sent: temporary while its slot is withdrawn"]
    assert BusyDay.reached["a fill by phone undone"]
    assert BusyDay.reached["a fill by phone announced"]
    assert BusyDay.reached["a reply answered with wrong_number"]
