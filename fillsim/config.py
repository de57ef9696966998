"""What one simulation is: the workload, the patients' behaviour and the policies.

Everything here is plain data (picklable), so the same config reaches every policy's
process and the same seed gives the same workload and the same patients' answers.
The defaults and their sources are in docs/simulator.md.
"""

import datetime as dt
from dataclasses import dataclass, field, replace

from django.conf import settings

from offers.policy import OfferPolicy, settings_policy

SCENARIOS = ("typical", "sick-day")

# A hold that lasts until offering stops (OfferPolicy's UNTIL_LEAD_TIME).
UNTIL_LEAD_TIME = None
# "Everyone who fits at once": more than any simulated waitlist holds for one slot.
EVERYONE = 10_000


@dataclass(frozen=True)
class PatientModel:
    """How texted patients answer (fillsim.patients). Rates are fractions 0-1.

    reply_rate: the mean share of offer texts a patient replies to at all;
    never_reply_share: patients who never reply (part of reply_rate's complement);
    accept_rate: the share of replies to an offer that are a YES (STOP aside), for a slot
    far enough ahead; a sooner slot is taken less often (soon_penalty at lead 0, fading over
    soon_hours);
    reply_median_minutes: median minutes from the text to the reply, over all replies;
    replies_within_hour: the share of replies within 60 minutes. Latency is a mixture of
    two lognormals (sigma reply_sigma and slow_sigma): quick repliers, and a slow tail
    (median slow_median_minutes) of those who see the text hours later; the quick
    median and the slow share are solved so both figures hold (fillsim.patients);
    chatter_share: of the replies that are not a YES, those that are not a NO either ("what time?", "thanks");
    stop_share: patients who answer their first offer with STOP;
    night: nobody replies between night_start and night_end (local): a reply due then
    waits for the morning.
    """

    reply_rate: float = 0.33
    never_reply_share: float = 0.25
    accept_rate: float = 0.33
    reply_median_minutes: float = 6.0
    replies_within_hour: float = 0.6
    reply_sigma: float = 1.0
    slow_median_minutes: float = 240.0
    slow_sigma: float = 1.0
    soon_penalty: float = 0.5
    soon_hours: float = 12.0
    chatter_share: float = 0.06
    stop_share: float = 0.01
    night: bool = True
    night_start: dt.time = dt.time(21, 30)
    night_end: dt.time = dt.time(7, 0)
    # Patients offered by call (Workload.voice_share): the share of calls a person picks
    # up (the rest: no answer, or an answering machine, half each), and of those picked
    # up, YES at accept_rate (less for a sooner slot, as texts), else 2. An assumption
    # (docs/simulator.md): no published figure for clinic offer calls.
    call_pickup_rate: float = 0.5

    @classmethod
    def everyone_yes_at_once(cls) -> "PatientModel":
        """Deterministic: every texted patient answers YES the moment the text lands."""
        return cls(reply_rate=1.0, never_reply_share=0.0, accept_rate=1.0,
                   reply_median_minutes=0.0, replies_within_hour=1.0, soon_penalty=0.0,
                   chatter_share=0.0, stop_share=0.0, night=False)

    @classmethod
    def nobody_answers(cls) -> "PatientModel":
        return cls(reply_rate=0.0, never_reply_share=1.0, chatter_share=0.0, stop_share=0.0)


@dataclass(frozen=True)
class Workload:
    """The clinic and its days (fillsim.workload). Shares are fractions 0-1."""

    days: int = 5
    seed: int = 1
    providers: int = 20
    waitlist: int = 2000
    cancellations_per_day: int = 40
    scenario: str = "typical"
    # The clinic's day (local time): appointments on a 20-minute grid from open to
    # close; cancellations are phoned in from calls_open to calls_close.
    open_at: dt.time = dt.time(8, 0)
    close_at: dt.time = dt.time(17, 0)
    calls_open: dt.time = dt.time(7, 0)
    calls_close: dt.time = dt.time(18, 0)
    sick_day_call: dt.time = dt.time(7, 30)
    locations: int = 3
    any_provider_share: float = 0.3
    typed_share: float = 0.6
    window_share: float = 0.25
    urgent_share: float = 0.05
    boosted_share: float = 0.05
    current_appointment_share: float = 0.75
    # Of those current appointments, the share the EHR named (an HL7 S12 with its id,
    # provider and length: an ehr.HeldAppointment). Taking an earlier slot frees one of
    # these, offered in turn (a chain fill, ehr/chain.py); the others are dates only.
    held_share: float = 0.8
    spanish_share: float = 0.15
    # Patients whose offers are phone calls (Patient.offer_channel "voice").
    voice_share: float = 0.0
    # How far ahead a cancelled appointment was: same day, within 48 h, 2-3 days, 3-7
    # days (docs/simulator.md).
    lead_mix: tuple[float, float, float, float] = (0.25, 0.35, 0.2, 0.2)
    # The first simulated day (a Monday), local midnight; fixed so a seed is a workload.
    first_day: dt.date = dt.date(2027, 3, 1)


@dataclass(frozen=True)
class SimConfig:
    workload: Workload = field(default_factory=Workload)
    patients: PatientModel = field(default_factory=PatientModel)
    # Texting hours of the simulated clinic: the product's default, whatever a
    # developer's .env says (a dev .env texts around the clock).
    sms_send_hours: str = "08:00-20:00"
    # Days simulated after the last cancellation day, at most, for the slots still
    # offering to end (filled, or closed when their lead time passes).
    tail_days: int = 8


def builtin_policies() -> dict[str, OfferPolicy]:
    """The policies `--policy` names. `current` is whatever the settings say."""
    current = replace(settings_policy(), name="current")
    return {
        "current": current,
        # The product as it was before issue 16: a fixed batch and hold, no fatigue caps.
        "seed": OfferPolicy(name="seed", batch_size=3, max_batch_size=settings.OFFER_MAX_BATCH_SIZE,
                            hold_seconds=7 * 60, sweep_seconds=30,
                            target_batches=settings.OFFER_TARGET_BATCHES, fatigue_caps=False,
                            learned_ranking=False),
        # Batches and holds from the candidates' responsiveness and the time left, with
        # the fatigue caps (offers/policy.py): the product's default.
        "adaptive": OfferPolicy(name="adaptive", batch_size=settings.OFFER_BATCH_SIZE,
                                max_batch_size=settings.OFFER_MAX_BATCH_SIZE,
                                hold_seconds=settings.OFFER_HOLD_SECONDS, sweep_seconds=30,
                                target_batches=settings.OFFER_TARGET_BATCHES,
                                fill_confidence=settings.OFFER_FILL_CONFIDENCE,
                                max_hold_seconds=settings.OFFER_MAX_HOLD_SECONDS),
        "nexhealth": OfferPolicy(name="nexhealth", batch_size=10, max_batch_size=10,
                                 hold_seconds=5 * 60, sweep_seconds=30,
                                 target_batches=settings.OFFER_TARGET_BATCHES, fatigue_caps=False,
                                 learned_ranking=False),
        "broadcast": OfferPolicy(name="broadcast", batch_size=EVERYONE, max_batch_size=EVERYONE,
                                 hold_seconds=UNTIL_LEAD_TIME, sweep_seconds=30,
                                 target_batches=1, fatigue_caps=False,
                                 learned_ranking=False),
    }


def policies_named(names: list[str], *, batch_size: int | None = None,
                   hold_minutes: float | None = None) -> list[OfferPolicy]:
    """The named built-in policies, with --batch-size / --hold-minutes applied to each."""
    known = builtin_policies()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"Unknown policy {', '.join(unknown)}; known: {', '.join(known)}.")
    hold_seconds = round(hold_minutes * 60) if hold_minutes is not None else None
    return [known[name].with_overrides(batch_size=batch_size, hold_seconds=hold_seconds)
            for name in dict.fromkeys(names)]
