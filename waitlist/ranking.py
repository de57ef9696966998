"""The clinic's ranking formula, computed by the database at query time.

The score is an annotation, never a stored column, so it cannot go stale and needs no
hourly recalculation. The weights and steps live in settings.RANKING:

    urgent                               +30
    manual boost                         0..40
    current appointment >= 180 days away +20, >= 90 +10, >= 30 +5
    waiting: one point per 30 days       at most 10

Ties go to the longest-waiting patient (earliest `added_at`, then the lower id).

    entries = with_score(WaitlistEntry.objects.filter(...)).order_by(*RANK_ORDER)
    score_breakdown(entries[0])   # "urgent 30 + boost 10 + appointment 20 + waiting 2 = 62"
"""

import datetime as dt

from django.conf import settings
from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.utils import timezone

from waitlist.models import WaitlistEntry

# Best first; ties to the longest wait; the id keeps the order total (and stable).
RANK_ORDER = ("-score", "added_at", "id")

# The parts of the score, in the order the breakdown reads them.
PARTS = (
    ("score_urgent", "urgent"),
    ("score_boost", "boost"),
    ("score_appointment", "appointment"),
    ("score_waiting", "waiting"),
)


def _int(value: int) -> Value:
    return Value(value, output_field=IntegerField())


def with_score(queryset: QuerySet, *, at: dt.datetime | None = None,
               parts: bool = True) -> QuerySet:
    """Annotate `score` and its parts (score_urgent, score_boost, score_appointment,
    score_waiting) on a WaitlistEntry queryset, as of `at` (default: now).

    parts=False computes only `score` per row (the parts stay aliases), which keeps the
    engine's batch choice fast on a large waitlist; the breakdown asks again."""
    now = at or timezone.now()
    weights = settings.RANKING
    day = dt.timedelta(days=1)

    urgent = Case(When(urgent=True, then=_int(weights["urgent"])), default=_int(0))
    # The database already keeps boost within 0..40; the clamp guards a lower setting.
    boost = Case(
        When(boost__gt=weights["boost_max"], then=_int(weights["boost_max"])),
        default=F("boost"),
        output_field=IntegerField(),
    )
    appointment = Case(
        *[
            When(current_appointment_at__gte=now + days * day, then=_int(points))
            for days, points in sorted(weights["current_appointment_steps"], reverse=True)
        ],
        default=_int(0),
    )
    # Whole waiting periods as steps rather than date arithmetic: the same SQL on
    # PostgreSQL and SQLite, and it can never exceed the maximum.
    period = weights["waiting_days_per_point"] * day
    waiting = Case(
        *[
            When(added_at__lte=now - points * period, then=_int(points))
            for points in range(weights["waiting_points_max"], 0, -1)
        ],
        default=_int(0),
    )
    add_parts = queryset.annotate if parts else queryset.alias
    return add_parts(
        score_urgent=urgent,
        score_boost=boost,
        score_appointment=appointment,
        score_waiting=waiting,
    ).annotate(
        score=F("score_urgent") + F("score_boost") + F("score_appointment") + F("score_waiting")
    )


def ranked(queryset: QuerySet, *, at: dt.datetime | None = None,
           parts: bool = True) -> QuerySet:
    """`with_score`, best first."""
    return with_score(queryset, at=at, parts=parts).order_by(*RANK_ORDER)


def score_parts(entry: WaitlistEntry, *, at: dt.datetime | None = None) -> list[tuple[str, int]]:
    """[(label, points)] for an entry, from its annotations (or asked of the database)."""
    if not hasattr(entry, "score_urgent"):
        entry = with_score(WaitlistEntry.objects.filter(pk=entry.pk), at=at).get()
    return [(label, getattr(entry, attr)) for attr, label in PARTS]


def score_breakdown(entry: WaitlistEntry, *, at: dt.datetime | None = None) -> str:
    """'urgent 30 + boost 10 + appointment 20 + waiting 2 = 62' (zero parts left out)."""
    parts = score_parts(entry, at=at)
    total = sum(points for _, points in parts)
    shown = [f"{label} {points}" for label, points in parts if points]
    if not shown:
        return "0"
    if len(shown) == 1:
        return shown[0]
    return f"{' + '.join(shown)} = {total}"
