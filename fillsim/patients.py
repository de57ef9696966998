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
        if rng.random() < model.chatter_share:
            return Answer(at, rng.choice(CHATTER))
        lead_hours = max((slot_start - at).total_seconds() / 3600, 0.0)
        soon = model.soon_penalty * math.exp(-lead_hours / model.soon_hours)
        says_yes = rng.random() < model.accept_rate * (1 - soon)
        return Answer(at, rng.choice(YES if says_yes else NO))

    def _latency_minutes(self, rng: random.Random) -> float:
        model = self.model
        if rng.random() < model.slow_share:
            median, sigma = model.slow_median_minutes, model.slow_sigma
        else:
            median, sigma = model.reply_median_minutes, model.reply_sigma
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
        minutes = max(model.reply_median_minutes, 1.0) * math.exp(rng.gauss(0, model.reply_sigma))
        return (woke + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)
