import datetime as dt

import pytest
from django.utils import timezone

from waitlist.models import WaitlistEntry
from waitlist.ranking import ranked, score_breakdown, score_parts, with_score
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def scored(entry, *, at=None):
    return with_score(WaitlistEntry.objects.filter(pk=entry.pk), at=at).get()


def test_issue_example_scores_62_with_its_breakdown():
    now = timezone.now()
    entry = WaitlistEntryFactory(
        urgent=True, boost=10, current_appointment_at=now + 181 * DAY, added_at=now - 61 * DAY
    )
    entry = scored(entry, at=now)
    assert entry.score == 62
    assert score_breakdown(entry) == "urgent 30 + boost 10 + appointment 20 + waiting 2 = 62"


@pytest.mark.parametrize(
    ("days_away", "points"),
    [(None, 0), (10, 0), (29, 0), (30, 5), (89, 5), (90, 10), (179, 10), (180, 20), (400, 20)],
)
def test_current_appointment_steps(days_away, points):
    now = timezone.now()
    when = None if days_away is None else now + days_away * DAY + dt.timedelta(minutes=1)
    entry = scored(WaitlistEntryFactory(current_appointment_at=when, added_at=now), at=now)
    assert entry.score_appointment == points
    assert entry.score == points


@pytest.mark.parametrize(
    ("days_waiting", "points"), [(0, 0), (29, 0), (30, 1), (59, 1), (60, 2), (299, 9), (300, 10),
                                 (1000, 10)],
)
def test_one_waiting_point_per_30_days_at_most_10(days_waiting, points):
    now = timezone.now()
    entry = scored(WaitlistEntryFactory(added_at=now - days_waiting * DAY), at=now)
    assert entry.score_waiting == points


def test_weights_come_from_settings(settings):
    settings.RANKING = {**settings.RANKING, "urgent": 7}
    entry = scored(WaitlistEntryFactory(urgent=True))
    assert entry.score == 7


def test_ranked_puts_best_first_and_ties_to_the_longest_waiting():
    now = timezone.now()
    newer_tie = WaitlistEntryFactory(boost=5, added_at=now - 1 * DAY)
    older_tie = WaitlistEntryFactory(boost=5, added_at=now - 2 * DAY)
    urgent = WaitlistEntryFactory(urgent=True, added_at=now)
    plain = WaitlistEntryFactory(added_at=now - 3 * DAY)
    order = list(ranked(WaitlistEntry.objects.all(), at=now).values_list("pk", flat=True))
    assert order == [urgent.pk, older_tie.pk, newer_tie.pk, plain.pk]


def test_breakdown_asks_the_database_for_an_entry_without_annotations():
    entry = WaitlistEntryFactory(boost=12)
    assert score_parts(entry) == [("urgent", 0), ("boost", 12), ("appointment", 0),
                                  ("waiting", 0), ("responsiveness", 0), ("fairness", 0)]
    assert score_breakdown(entry) == "boost 12"


def test_breakdown_of_nothing_is_zero():
    assert score_breakdown(WaitlistEntryFactory()) == "0"
