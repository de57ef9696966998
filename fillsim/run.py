"""One policy over the workload: the clinic written, then the days played through the
real engine in virtual time. Runs in a process whose database is its own (fillsim.
parallel); the figures come from that database afterwards (fillsim.metrics).

What runs is the product's code: cancellations are recorded with
`offers.services.slot_open`, batches, holds and expiries run as the engine's own Celery
tasks at their due time, texts go through messaging with the console backend, the
beat sweep (`offers.tasks.offers_sweep`) runs at the policy's interval, and replies go
through `messaging.services.inbound_handle`, the webhook's own code; patients offered by
call (`--voice-share`) are called, and answer through messaging/voice.py, the voice
webhooks' own code.
"""

import datetime as dt
import itertools
import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.models.signals import post_save

from fillsim.clock import Agenda, virtual_time
from fillsim.config import SimConfig
from fillsim.metrics import figures
from fillsim.patients import YES, Answer, Patients
from fillsim.workload import cancellations_plan, clinic_create, clinic_zone, start_of_run
from messaging import hooks, voice
from messaging.services import inbound_handle
from offers import services as offers
from offers.messages import OFFER_KIND, offer_id_of
from offers.models import Offer, Slot
from offers.policy import OfferPolicy, policy_override
from offers.tasks import offers_sweep

Progress = Callable[[float], None]

# Seconds from a call being placed to its pick-up (or its giving up ringing).
CALL_RINGS = 20


class Simulation:
    def __init__(self, config: SimConfig, policy: OfferPolicy, progress: Progress | None = None):
        self.config = config
        self.policy = policy
        self.progress = progress or (lambda fraction: None)
        workload = config.workload
        self.start = start_of_run(workload)
        self.last_call_day_ends = self.start + dt.timedelta(days=workload.days)
        self.horizon = self.last_call_day_ends + dt.timedelta(days=config.tail_days)
        self.agenda = Agenda(self.start.astimezone(dt.UTC))
        self.patients = Patients(config.patients, seed=workload.seed, zone=clinic_zone())
        self.providers = []
        self.calls_left = 0
        self.sids = itertools.count(1)
        self._slot_keys: dict[int, tuple[str, dt.datetime]] = {}
        self._offer_slots: dict[int, int] = {}
        # Every offer text handed over, and what its patient was drawn to answer (or None).
        self.answers: list[tuple[str, dt.datetime, Answer | None]] = []
        self.job_seconds: dict[str, float] = {}
        self._activity, self._last_sweep_idle, self._hours_were_open = True, False, False
        self.sweeps_run = 0

    # --- what happens -------------------------------------------------------------
    def _cancellation(self, call) -> None:
        provider = self.providers[call.provider]
        slot = offers.slot_open(
            provider=provider, start=call.start,
            end=call.start + dt.timedelta(minutes=call.minutes),
            appointment_type=self.types[call.visit_type], source=Slot.Source.EHR)
        self._slot_keys[slot.pk] = (f"{call.provider}:{call.start.isoformat()}", slot.start)
        self.calls_left -= 1

    def _on_handed_over(self, sender, message, at=None, **kwargs) -> None:
        """An offer text reached the patient: their answer (if any) goes on the agenda."""
        offer_id = offer_id_of(message)
        if message.kind != OFFER_KIND or offer_id is None or message.channel == "voice":
            return  # a call's answer is drawn when it is placed (_on_call_placed)
        key, start = self._slot_key(self._offer_slots[offer_id])
        answer = self.patients.answer(phone=message.to_number, slot_key=key,
                                      texted_at=self.agenda.now, slot_start=start)
        self.answers.append((message.to_number, self.agenda.now, answer))
        if answer is not None:
            self.agenda.at(answer.at, lambda: self._reply(message.to_number, answer.body),
                           kind="reply")

    def _on_call_placed(self, sender, message, **kwargs) -> None:
        """An offer call rings: CALL_RINGS later it is picked up and a key pressed, or it
        goes unanswered or to a machine, as drawn, through the voice webhooks' own code."""
        offer_id = offer_id_of(message)
        if message.kind != OFFER_KIND or offer_id is None:
            return
        key, start = self._slot_key(self._offer_slots[offer_id])
        outcome = self.patients.call_answer(phone=message.to_number, slot_key=key,
                                            at=self.agenda.now, slot_start=start)
        self.agenda.after(CALL_RINGS, lambda: self._call(message.pk, message.twilio_sid, outcome),
                          kind="call")

    def _call(self, call_id: int, sid: str, outcome: str) -> None:
        if outcome == "no-answer":
            voice.voice_status_record(message_id=call_id, call_sid=sid, call_status="no-answer")
            return
        turn = voice.voice_call_answered(
            message_id=call_id, call_sid=sid,
            answered_by="machine_end_beep" if outcome == "machine" else "human")
        if outcome != "machine" and turn is not None and turn.listen:
            voice.voice_keypress(message_id=call_id, call_sid=sid, step=1, digits=outcome)

    def _slot_key(self, slot_id: int) -> tuple[str, dt.datetime]:
        """What the patients' answers are drawn by: the call's key, or for a slot a chain
        fill freed (ehr/chain.py), the freed appointment's id (the same in every policy's
        run)."""
        if slot_id not in self._slot_keys:
            slot = Slot.objects.get(pk=slot_id)
            self._slot_keys[slot_id] = (f"chain:{slot.ehr_identifier_value}", slot.start)
        return self._slot_keys[slot_id]

    def _on_offer_saved(self, sender, instance, created=False, **kwargs) -> None:
        """Which slot each offer is for, noted as the engine creates it (so the hand-over
        above needs no query of its own)."""
        if created:
            self._offer_slots[instance.pk] = instance.slot_id

    def _reply(self, phone: str, body: str) -> None:
        inbound_handle(from_number=phone, to_number="", body=body, sid=f"SIM{next(self.sids)}")

    def _sweep(self) -> None:
        """The beat sweep, every `sweep_seconds` of the policy. A tick is skipped (costs
        nothing) when it cannot find anything: nothing but sweeps ran since a sweep that
        found nothing to do, and texting hours did not open since. The sweep reads only
        the database and the clock; the database is as that sweep left it, and what the
        clock alone makes due (a hold's end) has its own countdown task, which counts as
        something run (docs/simulator.md)."""
        now = self.agenda.now
        hours_open = offers.sms_hours_open(now)
        hours_opened = hours_open and not self._hours_were_open
        self._hours_were_open = hours_open
        if self._activity or not self._last_sweep_idle or hours_opened:
            self._activity = False
            self._last_sweep_idle = not any(offers_sweep().values())
            self.sweeps_run += 1
        self.agenda.after(self.policy.sweep_seconds, self._sweep, kind="sweep")

    def _settled(self) -> bool:
        return self.calls_left == 0 and not Slot.objects.filter(
            status=Slot.Status.OFFERING).exists()

    # --- the run ------------------------------------------------------------------
    def run(self) -> dict:
        started = time.perf_counter()
        hooks.message_handed_over.connect(self._on_handed_over, dispatch_uid="fillsim")
        hooks.call_placed.connect(self._on_call_placed, dispatch_uid="fillsim")
        post_save.connect(self._on_offer_saved, sender=Offer, dispatch_uid="fillsim")
        try:
            with virtual_time(self.agenda) as move_to, policy_override(self.policy):
                self.providers = clinic_create(self.config.workload)
                from clinic.models import AppointmentType
                self.types = {t.code: t for t in AppointmentType.objects.all()}
                plan = cancellations_plan(self.config.workload)
                self.calls_left = len(plan)
                for call in plan:
                    self.agenda.at(call.at, lambda call=call: self._cancellation(call),
                                   kind="cancellation")
                self.agenda.after(self.policy.sweep_seconds, self._sweep, kind="sweep")
                self._loop(move_to)
        finally:
            hooks.message_handed_over.disconnect(dispatch_uid="fillsim")
            hooks.call_placed.disconnect(dispatch_uid="fillsim")
            post_save.disconnect(sender=Offer, dispatch_uid="fillsim")
        result = figures(start=self.start, policy=self.policy)
        result["patients"] = answered_as_drawn(self.answers)
        result["simulated_until"] = self.agenda.now.isoformat()
        result["jobs_run"] = dict(sorted(self.agenda.ran.items()))
        result["sweeps_run"] = self.sweeps_run
        result["job_seconds"] = {k: round(v, 2) for k, v in sorted(self.job_seconds.items())}
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        return result

    def _loop(self, move_to) -> None:
        span = (self.last_call_day_ends - self.agenda.now).total_seconds()
        reported, next_check = -1, self.last_call_day_ends
        while len(self.agenda) and self.agenda.next_due() <= self.horizon:
            job = self.agenda.pop()
            move_to(job.due)
            began = time.perf_counter()
            job.run()
            if job.kind != "sweep":
                self._activity = True
            self.job_seconds[job.kind] = self.job_seconds.get(job.kind, 0.0) + (
                time.perf_counter() - began)
            if job.due >= next_check:
                if self._settled():
                    break
                next_check = job.due + dt.timedelta(hours=1)
            done = (job.due - self.start).total_seconds() / span
            percent = int(min(done, 1.0) * 99)
            if percent > reported:
                reported = percent
                self.progress(percent / 100)
        self.progress(1.0)


def answered_as_drawn(answers: list) -> dict:
    """How the simulated patients answered, as drawn, per offer text handed over: the
    patient model's calibration (docs/simulator.md). The message log cannot tell this
    apart: a reply is linked to the patient's newest offer, and a slow reply to an offer
    that ended often comes after the next one."""
    replies = [(at, answer) for _, at, answer in answers if answer is not None]
    minutes = [(answer.at - at).total_seconds() / 60 for at, answer in replies]
    first: dict[str, bool] = {}
    for phone, _, answer in answers:
        first.setdefault(phone, answer is not None)
    yes = sum(answer.body in YES for _, answer in replies)
    return {
        "offer_texts": len(answers),
        "texts_answered": _share(len(replies), len(answers)),
        "first_texts_answered": _share(sum(first.values()), len(first)),
        "median_reply_minutes": round(statistics.median(minutes), 2) if minutes else None,
        "replies_within_hour": _share(sum(m <= 60 for m in minutes), len(minutes)),
        "yes_share_of_replies": _share(yes, len(replies)),
        "texts_answered_yes": _share(yes, len(answers)),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def run_policy(config: SimConfig, policy: OfferPolicy, progress: Progress | None = None) -> dict:
    """Simulate `policy` over `config` in the current (empty, migrated) database."""
    settings.DEBUG = False  # no query log kept in memory
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # A throwaway database: durability is not worth the fsyncs.
            cursor.execute("PRAGMA synchronous=OFF")
    return Simulation(config, policy, progress).run()
