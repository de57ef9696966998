"""The clinic's ranking formula, computed by the database at query time.

The score is an annotation, never a stored column, so it cannot go stale and needs no
hourly recalculation. The weights and steps live in settings.RANKING:

    urgent                               +30
    manual boost                         0..40
    current appointment >= 180 days away +20, >= 90 +10, >= 30 +5
    waiting: one point per 30 days       at most 10
    responsiveness (offer history)       -8..+8: answers often, or never answers
    fairness (offers lost to quicker)    0..5: +1 per 2 offers lost since their last win

The last two come from the offers app's record of past offers (offers/history.py),
registered here at start-up (`register_history_parts`): the waitlist sits below offers
and cannot import it. Without them (a test of the waitlist alone) they are 0.

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
    ("score_responsiveness", "responsiveness"),
    ("score_fairness", "fairness"),
)
# Parts read in words rather than by name in the breakdown ("answers often +6").
_history_parts = None
_words: dict[str, object] = {}


def register_history_parts(parts, *, words: dict) -> None:
    """offers/apps.py: `parts(now)` gives (helper aliases, the two score parts, the
    annotations the words need); `words[attr](entry)` says what a part's points are for."""
    global _history_parts
    _history_parts = parts
    _words.clear()
    _words.update(words)


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
    history = {"score_responsiveness": _int(0), "score_fairness": _int(0)}
    helpers, for_words = {}, {}
    if _history_parts is not None:
        helpers, history, for_words = _history_parts(now)
    if helpers:
        queryset = (queryset.annotate if parts else queryset.alias)(**helpers)
    add_parts = queryset.annotate if parts else queryset.alias
    queryset = add_parts(
        score_urgent=urgent,
        score_boost=boost,
        score_appointment=appointment,
        score_waiting=waiting,
        **history,
    ).annotate(score=sum((F(attr) for attr, _ in PARTS[1:]), F(PARTS[0][0])))
    return queryset.annotate(**for_words) if parts and for_words else queryset


def ranked(queryset: QuerySet, *, at: dt.datetime | None = None,
           parts: bool = True) -> QuerySet:
    """`with_score`, best first."""
    return with_score(queryset, at=at, parts=parts).order_by(*RANK_ORDER)


def score_parts(entry: WaitlistEntry, *, at: dt.datetime | None = None) -> list[tuple[str, int]]:
    """[(label, points)] for an entry, from its annotations (or asked of the database)."""
    if not hasattr(entry, "score_urgent"):
        entry = with_score(WaitlistEntry.objects.filter(pk=entry.pk), at=at).get()
    return [(label, getattr(entry, attr)) for attr, label in PARTS]


def _signed(points: int) -> str:
    return f"+{points}" if points > 0 else f"\u2212{-points}"


def score_components(entry: WaitlistEntry, *,
                     at: dt.datetime | None = None) -> list[tuple[str, int, str]]:
    """Every part, zeros too: [(label, points, what it is for)] (the admin and the
    portal's details)."""
    if not hasattr(entry, "score_urgent"):
        entry = with_score(WaitlistEntry.objects.filter(pk=entry.pk), at=at).get()
    components = []
    for attr, label in PARTS:
        words = _words.get(attr)
        components.append((label, getattr(entry, attr), words(entry) if words else ""))
    return components


def score_breakdown(entry: WaitlistEntry, *, at: dt.datetime | None = None) -> str:
    """'urgent 30 + boost 10 + appointment 20 + waiting 2 = 62' (zero parts left out);
    the offer-history parts in words: 'urgent 30 + never answered the last 4 offers \u22128'."""
    if not hasattr(entry, "score_urgent"):
        entry = with_score(WaitlistEntry.objects.filter(pk=entry.pk), at=at).get()
    parts = score_parts(entry, at=at)
    total = sum(points for _, points in parts)
    shown = []
    for (attr, _), (label, points) in zip(PARTS, parts, strict=True):
        if not points:
            continue
        words = _words.get(attr)
        shown.append(f"{words(entry)} {_signed(points)}" if words else f"{label} {points}")
    if not shown:
        return "0"
    if len(shown) == 1:
        return shown[0]
    return f"{' + '.join(shown)} = {total}"
