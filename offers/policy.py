"""How a slot is offered: how many patients per batch, how long each offer is held, and
how often the beat sweep looks. The offer engine asks `policy_for(slot=..., at=...)`
whenever it sizes a batch or starts a hold; nothing else in the engine reads those
settings.

By default the policy is the settings' (OFFER_POLICY, OFFER_BATCH_SIZE,
OFFER_MAX_BATCH_SIZE, OFFER_TARGET_BATCHES, OFFER_HOLD_SECONDS, OFFER_SWEEP_SECONDS,
OFFER_FILL_CONFIDENCE), read at every call, so a test that changes a setting changes
the policy.

The adaptive policy (OFFER_POLICY=adaptive; docs/how-offers-work.md,
"Adaptive batches") sizes each batch from the candidates' own estimates
(offers/history.py) and the texting time left before offering must stop:

- the hold is the texting time left shared by OFFER_TARGET_BATCHES holds, at most
  OFFER_MAX_HOLD_SECONDS (four of OFFER_HOLD_SECONDS, 28 minutes by default) and never
  under a minute: long holds while there is time (late readers can still say YES),
  shorter ones as the slot nears;
- the batch is the smallest that makes P(at least one YES before offering stops) reach
  OFFER_FILL_CONFIDENCE, counting every batch that still fits after this one at this
  size: each candidate says YES within a hold with P(answer) x P(YES | answer) x
  P(reply within the hold | their median reply time). Never more than
  OFFER_MAX_BATCH_SIZE, and never more than the slot's fair share of the free candidates
  when other slots of the same provider and day are offering too (a sick-day burst).
  OFFER_BATCH_SIZE is the fixed policy's batch (OFFER_POLICY=fixed); the adaptive one
  may go lower, down to one patient at a time while days are left;
- a clinic rule's batch size or hold (offers/rules.py) wins: its slots are offered the
  fixed way with the rule's numbers. The fill simulator (fillsim) runs the
same engine under other policies with `policy_override`; later policies (learned from
replies, per provider or visit type) plug in here, as `policy_for` choosing per slot.
"""

import contextlib
import contextvars
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from offers.models import Slot

# A hold that lasts until offering stops: OFFER_MIN_LEAD_MINUTES before the slot starts.
UNTIL_LEAD_TIME = None
# The shortest hold the engine gives, whatever a policy asks (the texts say "1 minute").
MIN_HOLD_SECONDS = 60


@dataclass(frozen=True)
class OfferPolicy:
    """One way of offering slots. `hold_seconds` None (UNTIL_LEAD_TIME): each offer is
    held until offering must stop, OFFER_MIN_LEAD_MINUTES before the slot."""

    name: str
    batch_size: int
    max_batch_size: int
    hold_seconds: int | None
    sweep_seconds: int
    target_batches: int
    # Adaptive (None: fixed): the chance of a YES before offering stops a batch aims at,
    # and the longest hold it gives (None: hold_seconds).
    fill_confidence: float | None = None
    max_hold_seconds: int | None = None
    # The fatigue caps and the gap between texts (offers/selectors.py) apply, and the
    # ranking has its offer-history parts (offers/history.py); both off for the
    # simulator's "seed" policy, which is the product as it was before them.
    fatigue_caps: bool = True
    learned_ranking: bool = True

    def hold_seconds_for(self, *, slot: "Slot", at: dt.datetime) -> int:
        """The hold of an offer of `slot` whose hold starts at `at`."""
        if self.fill_confidence is not None and self.hold_seconds is not None:
            longest = self.max_hold_seconds or self.hold_seconds
            left = texting_seconds_left(slot=slot, at=at)
            return max(MIN_HOLD_SECONDS, min(longest, int(left // self.target_batches)))
        if self.hold_seconds is not None:
            return self.hold_seconds
        lead_time = slot.start - dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
        return max(MIN_HOLD_SECONDS, int((lead_time - at).total_seconds()))

    def batch_size_for(self, *, slot: "Slot", at: dt.datetime) -> int:
        """`batch_size`, grown when fewer than `target_batches` holds fit before offering
        must stop (the lead time before the slot), so a slot starting soon still fills.
        Never more than `max_batch_size` (nor less than `batch_size`). Adaptive: see
        the module's docstring (adaptive_batch_size)."""
        if self.fill_confidence is not None and self.hold_seconds is not None:
            return adaptive_batch_size(self, slot=slot, at=at)
        usable = slot.start - at - dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
        fits = int(usable.total_seconds() // self.hold_seconds_for(slot=slot, at=at))
        if fits >= self.target_batches:
            return self.batch_size
        wanted = math.ceil(self.batch_size * self.target_batches / max(fits, 1))
        return max(self.batch_size, min(wanted, self.max_batch_size))

    def with_overrides(self, *, batch_size: int | None = None,
                       hold_seconds: int | None = None) -> "OfferPolicy":
        """The same policy with another batch size or hold (the simulator's --batch-size
        and --hold-minutes); a larger batch raises the maximum with it."""
        policy = self
        if batch_size is not None:
            policy = replace(policy, batch_size=batch_size,
                             max_batch_size=max(policy.max_batch_size, batch_size))
        if hold_seconds is not None:
            policy = replace(policy, hold_seconds=hold_seconds, max_hold_seconds=None)
        return policy


def settings_policy() -> OfferPolicy:
    """The policy the settings describe ("current")."""
    return OfferPolicy(
        name="current",
        batch_size=settings.OFFER_BATCH_SIZE,
        max_batch_size=max(settings.OFFER_MAX_BATCH_SIZE, settings.OFFER_BATCH_SIZE),
        hold_seconds=settings.OFFER_HOLD_SECONDS,
        sweep_seconds=settings.OFFER_SWEEP_SECONDS,
        target_batches=settings.OFFER_TARGET_BATCHES,
        fill_confidence=(settings.OFFER_FILL_CONFIDENCE
                         if settings.OFFER_POLICY == "adaptive" else None),
        max_hold_seconds=settings.OFFER_MAX_HOLD_SECONDS,
    )


# The texting time left is counted in steps this long (a rule's hours, the night).
_STEP = dt.timedelta(minutes=10)
# Far enough: beyond this much texting time any batch size fills.
_HORIZON = dt.timedelta(hours=24)


def texting_seconds_left(*, slot: "Slot", at: dt.datetime) -> float:
    """Seconds of texting hours between `at` and when offering must stop (the slot's
    rule's lead time): a slot freed at 19:00 for 9:00 tomorrow has one hour tonight and
    none in the morning before 8:00, not fourteen."""
    from offers.rules import rule_for

    rule = rule_for(slot=slot)
    stop = slot.start - rule.min_lead
    if stop <= at:
        return 0.0
    left, moment = 0.0, at
    while moment < stop and left < _HORIZON.total_seconds():
        step = min(_STEP, stop - moment)
        if rule.texting_open(moment):
            left += step.total_seconds()
        moment += step
    return left


def _reply_within(seconds: float, median_minutes: float) -> float:
    # A log-logistic reply time with the patient's median: heavy-tailed as replies are
    # (most within minutes, some hours later).
    minutes = seconds / 60
    return minutes / (minutes + max(median_minutes, 0.5))


def adaptive_batch_size(policy: OfferPolicy, *, slot: "Slot", at: dt.datetime) -> int:
    """The smallest batch whose P(a YES before offering stops) reaches the policy's
    fill_confidence (see the module's docstring). Three queries: the candidates, their
    estimates, the slots of the same provider and day offering too."""
    from offers.history import estimates_for
    from offers.models import Slot
    from offers.selectors import slot_candidates

    pool = list(slot_candidates(slot=slot, at=at).values_list("patient_id", flat=True)
                [:_POOL_LOOKED_AT])
    if not pool:
        return policy.batch_size
    hold = policy.hold_seconds_for(slot=slot, at=at)
    rounds = max(1, int(texting_seconds_left(slot=slot, at=at) // hold))
    estimates = estimates_for(patient_ids=pool, now=at)
    chances = [estimates[pid].yes_rate * _reply_within(hold, estimates[pid].reply_minutes)
               for pid in dict.fromkeys(pool)]
    day = slot.start.date()
    competing = Slot.objects.filter(
        provider_id=slot.provider_id, status=Slot.Status.OFFERING,
        start__date=day).exclude(pk=slot.pk).count()
    fair_share = max(1, math.ceil(len(chances) / (competing + 1)))
    most = min(policy.max_batch_size, fair_share)
    for size in range(1, most + 1):
        texted = chances[: size * rounds]
        if len(texted) < size * rounds:
            # The rest of the waitlist, beyond those looked at, as the last of them.
            texted = texted + [texted[-1]] * (size * rounds - len(texted))
        if 1 - math.prod(1 - chance for chance in texted) >= policy.fill_confidence:
            return size
    return most


# Candidates whose estimates an adaptive batch looks at (the rest are assumed no better).
_POOL_LOOKED_AT = 60


_override: contextvars.ContextVar[OfferPolicy | None] = contextvars.ContextVar(
    "offer_policy_override", default=None)


@contextlib.contextmanager
def policy_override(policy: OfferPolicy) -> Iterator[OfferPolicy]:
    """Every slot is offered by `policy` inside this block (this thread only)."""
    token = _override.set(policy)
    try:
        yield policy
    finally:
        _override.reset(token)


def policy_in_force() -> OfferPolicy | None:
    """The override in force (the simulator's), if any."""
    return _override.get()


def policy_for(*, slot: "Slot", at: dt.datetime) -> OfferPolicy:
    """The policy that offers `slot` at `at`: an override's, else the settings', with
    the batch size and hold of the clinic rule for the slot where it sets them
    (offers/rules.py; blank: "let the policy choose")."""
    override = _override.get()
    if override is not None:
        return override
    from offers.rules import rule_for  # offers.rules imports the models

    rule = rule_for(slot=slot)
    policy = settings_policy()
    if rule.batch_size is None and rule.hold_seconds is None:
        return policy
    # The clinic's numbers win over the adaptive sizing.
    policy = replace(policy, fill_confidence=None).with_overrides(hold_seconds=rule.hold_seconds)
    if rule.batch_size is not None:
        # The clinic's number, exactly: not grown when few holds fit before the slot.
        policy = replace(policy, batch_size=rule.batch_size, max_batch_size=rule.batch_size)
    return replace(policy, name=f"rule {rule.rule.pk}")
