"""How a slot is offered: how many patients per batch, how long each offer is held, and
how often the beat sweep looks. The offer engine asks `policy_for(slot=..., at=...)`
whenever it sizes a batch or starts a hold; nothing else in the engine reads those
settings.

By default the policy is the settings' (OFFER_BATCH_SIZE, OFFER_MAX_BATCH_SIZE,
OFFER_TARGET_BATCHES, OFFER_HOLD_SECONDS, OFFER_SWEEP_SECONDS), read at every call, so
a test that changes a setting changes the policy. The fill simulator (fillsim) runs the
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

    def hold_seconds_for(self, *, slot: "Slot", at: dt.datetime) -> int:
        """The hold of an offer of `slot` whose hold starts at `at`."""
        if self.hold_seconds is not None:
            return self.hold_seconds
        lead_time = slot.start - dt.timedelta(minutes=settings.OFFER_MIN_LEAD_MINUTES)
        return max(MIN_HOLD_SECONDS, int((lead_time - at).total_seconds()))

    def batch_size_for(self, *, slot: "Slot", at: dt.datetime) -> int:
        """`batch_size`, grown when fewer than `target_batches` holds fit before offering
        must stop (the lead time before the slot), so a slot starting soon still fills.
        Never more than `max_batch_size` (nor less than `batch_size`)."""
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
            policy = replace(policy, hold_seconds=hold_seconds)
        return policy


def settings_policy() -> OfferPolicy:
    """The policy the settings describe ("current")."""
    return OfferPolicy(
        name="current",
        batch_size=settings.OFFER_BATCH_SIZE,
        max_batch_size=settings.OFFER_MAX_BATCH_SIZE,
        hold_seconds=settings.OFFER_HOLD_SECONDS,
        sweep_seconds=settings.OFFER_SWEEP_SECONDS,
        target_batches=settings.OFFER_TARGET_BATCHES,
    )


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
    policy = policy.with_overrides(hold_seconds=rule.hold_seconds)
    if rule.batch_size is not None:
        # The clinic's number, exactly: not grown when few holds fit before the slot.
        policy = replace(policy, batch_size=rule.batch_size, max_batch_size=rule.batch_size)
    return replace(policy, name=f"rule {rule.rule.pk}")
