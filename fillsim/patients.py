"""How a texted patient answers an offer: whether they reply, when, and what.

Each patient has traits drawn once from the seed (never replies, how likely to reply,
texts STOP); each answer to an offer is drawn from the seed, the patient and the slot,
so under every policy the same patient answers the same offer the same way (policies
are compared on the same people, not on luck). Defaults and sources: docs/simulator.md.
"""

import datetime as dt
import math
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fillsim.config import PatientModel

YES = ("YES", "Yes", "yes please", "Y", "ok sure")
NO = ("No", "NO", "no thanks")
CHATTER = ("What time is it?", "thanks", "who is this?")
STOP = "STOP"
# Heterogeneity of the reply propensity between patients (a Beta's a + b).
PROPENSITY_SPREAD = 4.0


@dataclass(frozen=True)
class Answer:
    at: dt.datetime
    body: str


@dataclass(frozen=True)
class Traits:
    never_replies: bool
    reply_probability: float
    texts_stop: bool


class Patients:
    def __init__(self, model: PatientModel, *, seed: int, zone: ZoneInfo):
        self.model = model
        self.seed = seed
        self.zone = zone
        self._traits: dict[str, Traits] = {}
        self._answered_before: set[str] = set()
        self._latency = latency_mixture(model)

    def traits(self, phone: str) -> Traits:
        if phone not in self._traits:
            self._traits[phone] = self._draw_traits(random.Random(f"{self.seed}:{phone}"))
        return self._traits[phone]

    def _draw_traits(self, rng: random.Random) -> Traits:
        model = self.model
        never_share = min(model.never_reply_share, 1 - model.reply_rate)
        mean = model.reply_rate / (1 - never_share) if never_share < 1 else 0.0
        never = rng.random() < never_share
        if mean >= 1 or mean <= 0:
            probability = min(max(mean, 0.0), 1.0)
        else:
            probability = rng.betavariate(PROPENSITY_SPREAD * mean, PROPENSITY_SPREAD * (1 - mean))
        return Traits(never_replies=never, reply_probability=0.0 if never else probability,
                      texts_stop=rng.random() < model.stop_share)

    def answer(self, *, phone: str, slot_key: str, texted_at: dt.datetime,
               slot_start: dt.datetime) -> Answer | None:
        """What the patient at `phone` answers to the offer of the slot `slot_key`
        (starting at `slot_start`) texted at `texted_at`, or None for no reply."""
        model, traits = self.model, self.traits(phone)
        rng = random.Random(f"{self.seed}:{phone}:{slot_key}")
        replies = rng.random() < traits.reply_probability
        first_answer = phone not in self._answered_before
        if not replies:
            return None
        self._answered_before.add(phone)
        at = texted_at + dt.timedelta(minutes=self._latency_minutes(rng))
        at = self._awake(at, rng)
        if traits.texts_stop and first_answer:
            return Answer(at, STOP)
        lead_hours = max((slot_start - at).total_seconds() / 3600, 0.0)
        soon = model.soon_penalty * math.exp(-lead_hours / model.soon_hours)
        if rng.random() < model.accept_rate * (1 - soon):
            return Answer(at, rng.choice(YES))
        # Not a YES: a NO, or now and then neither (answered as in production).
        if rng.random() < model.chatter_share:
            return Answer(at, rng.choice(CHATTER))
        return Answer(at, rng.choice(NO))

    def call_answer(self, *, phone: str, slot_key: str, at: dt.datetime,
                    slot_start: dt.datetime) -> str:
        """What happens when the patient at `phone` is called about the slot `slot_key`:
        "no-answer", "machine", or, picked up, the key pressed: "1" (YES) or "2"."""
        model = self.model
        rng = random.Random(f"{self.seed}:call:{phone}:{slot_key}")
        if rng.random() >= model.call_pickup_rate:
            return "machine" if rng.random() < 0.5 else "no-answer"
        lead_hours = max((slot_start - at).total_seconds() / 3600, 0.0)
        soon = model.soon_penalty * math.exp(-lead_hours / model.soon_hours)
        return "1" if rng.random() < model.accept_rate * (1 - soon) else "2"

    def _latency_minutes(self, rng: random.Random) -> float:
        quick_median, slow_share = self._latency
        model = self.model
        if rng.random() < slow_share:
            median, sigma = model.slow_median_minutes, model.slow_sigma
        else:
            median, sigma = quick_median, model.reply_sigma
        if median <= 0:
            return 0.0
        return median * math.exp(rng.gauss(0, sigma))

    def _awake(self, at: dt.datetime, rng: random.Random) -> dt.datetime:
        """Nobody replies at night: a reply due then comes after the night ends."""
        model = self.model
        if not model.night:
            return at
        local = at.astimezone(self.zone)
        time = local.time()
        if model.night_end <= time < model.night_start:
            return at
        morning = local.date() if time < model.night_end else local.date() + dt.timedelta(days=1)
        woke = dt.datetime.combine(morning, model.night_end, tzinfo=self.zone)
        minutes = max(self._latency[0], 1.0) * math.exp(rng.gauss(0, model.reply_sigma))
        return (woke + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)


def _lognormal_cdf(minutes: float, median: float, sigma: float) -> float:
    if median <= 0:
        return 1.0
    return 0.5 * (1 + math.erf(math.log(minutes / median) / (sigma * math.sqrt(2))))


def latency_mixture(model: PatientModel) -> tuple[float, float]:
    """(quick median minutes, slow share) such that the replies' median is
    `reply_median_minutes` and `replies_within_hour` of them come within 60 minutes
    (before the night: a reply due at night waits for the morning).

    One lognormal cannot have both a single-digit median and only 60 % within the hour
    without absurd sigma (median 6 and 60 % by 60 minutes needs sigma 9: a quarter of the
    replies two days late, a tenth a year late); two can: quick repliers (sigma
    reply_sigma) and a slow tail (median slow_median_minutes, sigma slow_sigma), the
    ones who see the text hours later. For a quick median m the median condition fixes
    the slow share; m is then found by bisection for the within-hour share. If that
    share cannot be reached with this median, the nearest reachable is used."""
    median, hour = model.reply_median_minutes, model.replies_within_hour
    slow_m, slow_s, quick_s = model.slow_median_minutes, model.slow_sigma, model.reply_sigma
    if median <= 0:
        return 0.0, 0.0
    slow_at_median = _lognormal_cdf(median, slow_m, slow_s)
    if slow_at_median >= 0.5:  # the median is already in the slow tail: no quick part
        return median, 0.0
    slow_at_hour = _lognormal_cdf(60.0, slow_m, slow_s)

    def mixture(quick_m: float) -> tuple[float, float]:
        quick_at_median = _lognormal_cdf(median, quick_m, quick_s)
        quick_share = (0.5 - slow_at_median) / (quick_at_median - slow_at_median)
        within = quick_share * _lognormal_cdf(60.0, quick_m, quick_s) + (1 - quick_share) * slow_at_hour
        return 1 - quick_share, within

    low, high = median * 1e-4, median  # within-hour share rises with the quick median
    if mixture(high)[1] <= hour:
        return high, mixture(high)[0]
    for _ in range(80):
        middle = (low + high) / 2
        if mixture(middle)[1] < hour:
            low = middle
        else:
            high = middle
    return high, mixture(high)[0]
