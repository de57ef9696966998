"""What a patient's offer history says about them: how likely they answer and accept,
and how fast (responsiveness); how often they lost a slot they were offered to someone
quicker (fairness). The fatigue caps count offer texts in offers/locks.py.

Responsiveness is a Beta-Binomial estimate: the clinic-wide share of offers answered is
the prior, worth RANKING["responsiveness_prior_weight"] offers, updated by the patient's
own offers of the last RANKING["history_days"] days. An offer counts as "asked" once its
hold ran out or it was answered; an offer closed because someone else took the slot first
counts for fairness, not against responsiveness (the patient had no full hold to answer).

Two score parts come from here, registered into the waitlist's ranking at start-up
(offers/apps.py; the waitlist sits below offers and cannot import it): both are
correlated subqueries on the patient's own offers (an index on offers_offer.patient_id),
so the ranking stays one query however long the waitlist. The offer policy's estimates
(`estimates_for`) are one query for all of a batch's candidates.
"""

import datetime as dt
import statistics
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Round

from offers.models import Offer

S = Offer.Status
# Offers the patient had the whole hold to answer (or answered).
ASKED = Q(status__in=(S.ACCEPTED, S.DECLINED, S.EXPIRED, S.RESERVED)) | Q(responded_at__isnull=False)
ANSWERED = Q(responded_at__isnull=False)
ACCEPTED = Q(status__in=(S.ACCEPTED, S.RESERVED))
# Lost to someone quicker: the slot was taken while their offer was still on hold.
LOST = Q(status=S.SUPERSEDED, responded_at__isnull=True)
# When the clinic has too little history of its own (a new install).
DEFAULT_ANSWER_RATE = 0.33
DEFAULT_ACCEPT_RATE = 0.33
DEFAULT_REPLY_MINUTES = 10.0
MIN_CLINIC_HISTORY = 20


def _since(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.RANKING["history_days"])


@dataclass(frozen=True)
class ClinicPrior:
    answer_rate: float
    accept_rate: float  # of answers
    reply_minutes: float


@dataclass(frozen=True)
class Estimate:
    """One patient: P(answer an offer), P(YES | answered), median minutes to answer."""

    answer_rate: float
    accept_rate: float
    reply_minutes: float
    asked: int
    answered: int

    @property
    def yes_rate(self) -> float:
        return self.answer_rate * self.accept_rate


# The last prior computed and the moment it was for: one batch ranks its candidates and
# sizes itself at the same `now`, and asks once (a new moment asks again).
_last_prior: tuple[dt.datetime, ClinicPrior] | None = None


def clinic_prior(*, now: dt.datetime) -> ClinicPrior:
    """The clinic-wide shares, over the history window (defaults while it is short)."""
    global _last_prior
    if _last_prior is not None and _last_prior[0] == now:
        return _last_prior[1]
    prior = _clinic_prior(now)
    _last_prior = (now, prior)
    return prior


def _clinic_prior(now: dt.datetime) -> ClinicPrior:
    counts = Offer.objects.filter(created_at__gte=_since(now)).aggregate(
        asked=Count("pk", filter=ASKED), answered=Count("pk", filter=ANSWERED),
        accepted=Count("pk", filter=ACCEPTED))
    if counts["asked"] < MIN_CLINIC_HISTORY:
        return ClinicPrior(DEFAULT_ANSWER_RATE, DEFAULT_ACCEPT_RATE, DEFAULT_REPLY_MINUTES)
    answer = min(0.95, max(0.05, counts["answered"] / counts["asked"]))
    accept = (min(0.95, max(0.05, counts["accepted"] / counts["answered"]))
              if counts["answered"] else DEFAULT_ACCEPT_RATE)
    return ClinicPrior(answer, accept, DEFAULT_REPLY_MINUTES)


def _posterior(prior: float, hits: int, tries: int) -> float:
    weight = settings.RANKING["responsiveness_prior_weight"]
    return (weight * prior + hits) / (weight + tries)


def estimates_for(*, patient_ids: list[int], now: dt.datetime,
                  prior: ClinicPrior | None = None) -> dict[int, Estimate]:
    """Each patient's estimate: one query over these patients' offers in the window."""
    prior = prior or clinic_prior(now=now)
    rows = (Offer.objects.filter(patient_id__in=patient_ids, created_at__gte=_since(now))
            .filter(ASKED).values_list("patient_id", "status", "sent_at", "responded_at"))
    history: dict[int, list[tuple]] = {pid: [] for pid in patient_ids}
    for patient_id, status, sent_at, responded_at in rows:
        history[patient_id].append((status, sent_at, responded_at))
    estimates = {}
    for patient_id, offers in history.items():
        answered = [o for o in offers if o[2] is not None]
        accepted = sum(1 for o in answered if o[0] in (S.ACCEPTED, S.RESERVED))
        minutes = [max(0.0, (o[2] - o[1]).total_seconds() / 60) for o in answered if o[1]]
        # The patient's own median once they answered twice; the clinic's until then.
        reply = statistics.median(minutes) if len(minutes) >= 2 else prior.reply_minutes
        estimates[patient_id] = Estimate(
            answer_rate=_posterior(prior.answer_rate, len(answered), len(offers)),
            accept_rate=_posterior(prior.accept_rate, accepted, len(answered)),
            reply_minutes=reply, asked=len(offers), answered=len(answered))
    return estimates


# --- The score parts (waitlist/ranking.py) ---------------------------------------

def _patient_offers(now: dt.datetime) -> QuerySet:
    return (Offer.objects.filter(patient_id=OuterRef("patient_id"), created_at__gte=_since(now))
            .order_by().values("patient_id"))


def _count(now: dt.datetime, condition: Q) -> Coalesce:
    counted = _patient_offers(now).annotate(n=Count("pk", filter=condition)).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def responsiveness_points(*, answered: int, asked: int, prior: float) -> int:
    """The Python twin of the SQL below (tests and the words use it)."""
    most = settings.RANKING["responsiveness_max"]
    post = _posterior(prior, answered, asked)
    scale = prior if post < prior else 1 - prior
    return round(most * (post - prior) / scale)


def _responsiveness(now: dt.datetime, prior: float) -> Coalesce:
    """RANKING["responsiveness_max"] points either way: the posterior answer rate's
    distance from the clinic's, as a share of the room there is on that side."""
    weights = settings.RANKING
    most, weight = float(weights["responsiveness_max"]), float(weights["responsiveness_prior_weight"])
    answered = Cast(Count("pk", filter=ANSWERED), FloatField())
    asked = Cast(Count("pk", filter=ASKED), FloatField())
    post = ExpressionWrapper((Value(weight * prior) + answered) / (Value(weight) + asked),
                             output_field=FloatField())
    points = Case(
        When(post__lt=prior, then=Value(most / prior) * (F("post") - Value(prior))),
        default=Value(most / (1 - prior)) * (F("post") - Value(prior)),
        output_field=FloatField())
    rows = (_patient_offers(now).annotate(post=post)
            .annotate(points=Cast(Round(points), IntegerField())).values("points"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _fairness(now: dt.datetime) -> Case:
    """+1 per RANKING["fairness_offers_per_point"] offers lost to someone quicker, at most
    RANKING["fairness_max"]; a patient who won a slot in the window starts again at 0."""
    weights = settings.RANKING
    per_point, most = weights["fairness_offers_per_point"], weights["fairness_max"]
    lost = _count(now, LOST)
    won = _count(now, ACCEPTED)
    return Case(
        When(Q(hist_won__gt=0), then=Value(0)),
        *[When(Q(hist_lost__gte=points * per_point), then=Value(points))
          for points in range(most, 0, -1)],
        default=Value(0), output_field=IntegerField(),
    ), {"hist_lost": lost, "hist_won": won}


def ranking_parts(now: dt.datetime) -> tuple[dict, dict, dict]:
    """(helper aliases, part annotations, annotations for the words) for with_score."""
    from offers.policy import policy_in_force

    override = policy_in_force()
    if override is not None and not override.learned_ranking:
        # The simulator's "seed": the ranking as it was before these parts.
        zero = Value(0, output_field=IntegerField())
        return {}, {"score_responsiveness": zero, "score_fairness": zero}, {}
    prior = clinic_prior(now=now).answer_rate
    fairness, fairness_helpers = _fairness(now)
    words = {"hist_asked": _count(now, ASKED), "hist_answered": _count(now, ANSWERED)}
    return (fairness_helpers,
            {"score_responsiveness": _responsiveness(now, prior), "score_fairness": fairness},
            words)


def _offers(n: int) -> str:
    return "the last offer" if n == 1 else f"the last {n} offers"


def responsiveness_words(entry) -> str:
    """'answers often', 'never answered the last 4 offers': what the points are for."""
    asked, answered = getattr(entry, "hist_asked", 0), getattr(entry, "hist_answered", 0)
    if not asked:
        return "no offers answered or missed yet"
    if not answered:
        return f"never answered {_offers(asked)}"
    if entry.score_responsiveness > 0:
        return f"answers often ({answered} of {_offers(asked)})"
    return f"answers seldom ({answered} of {_offers(asked)})"


def fairness_words(entry) -> str:
    lost = getattr(entry, "hist_lost", 0)
    return f"lost {lost} offers to quicker patients" if lost else "no offers lost"
