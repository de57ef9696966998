"""The score parts from the offer history (offers/history.py): responsiveness and
fairness, their weights in settings.RANKING, and the words the breakdown gives them."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from offers.history import estimates_for, responsiveness_points
from offers.models import Offer
from offers.tests.factories import OfferFactory
from waitlist.models import WaitlistEntry
from waitlist.ranking import ranked, score_breakdown, score_components, with_score
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

S = Offer.Status


def history(entry, *statuses, minutes_to_answer=5):
    """Past offers to the entry's patient, an hour apart, answered ones after
    `minutes_to_answer`."""
    now = timezone.now()
    for i, status in enumerate(statuses):
        sent = now - dt.timedelta(hours=i + 1)
        answered = status in (S.ACCEPTED, S.DECLINED)
        OfferFactory(entry=entry, status=status, sent_at=sent, created_at=sent,
                     responded_at=sent + dt.timedelta(minutes=minutes_to_answer)
                     if answered else None)


def scored(entry):
    return with_score(WaitlistEntry.objects.filter(pk=entry.pk)).get()


def test_a_patient_who_never_answered_their_last_four_offers_loses_points_and_says_why():
    entry = WaitlistEntryFactory()
    history(entry, S.EXPIRED, S.EXPIRED, S.EXPIRED, S.EXPIRED)
    entry = scored(entry)
    points = responsiveness_points(answered=0, asked=4, prior=0.33)
    assert points < 0
    assert entry.score_responsiveness == points
    assert entry.score == points
    assert score_breakdown(entry) == f"never answered the last 4 offers \u2212{-points}"


def test_a_patient_who_answers_often_gains_points_and_says_so():
    entry = WaitlistEntryFactory(boost=10)
    history(entry, S.DECLINED, S.DECLINED, S.DECLINED, S.EXPIRED)
    entry = scored(entry)
    points = responsiveness_points(answered=3, asked=4, prior=0.33)
    assert points > 0
    assert entry.score_responsiveness == points
    assert score_breakdown(entry) == (f"boost 10 + answers often (3 of the last 4 offers) "
                                      f"+{points} = {10 + points}")


def test_responsiveness_is_bounded_by_its_weight_in_the_settings(settings):
    settings.RANKING = {**settings.RANKING, "responsiveness_max": 3}
    silent = WaitlistEntryFactory()
    history(silent, *[S.EXPIRED] * 30)
    assert -3 <= scored(silent).score_responsiveness < 0
    settings.RANKING = {**settings.RANKING, "responsiveness_max": 0}
    assert scored(silent).score_responsiveness == 0


def test_an_offer_lost_to_a_quicker_patient_is_not_held_against_responsiveness():
    entry = WaitlistEntryFactory()
    history(entry, S.SUPERSEDED, S.SUPERSEDED)
    assert scored(entry).score_responsiveness == 0


def test_the_responsive_patient_ranks_above_the_silent_one_with_the_same_score_otherwise():
    silent, answers = WaitlistEntryFactory(), WaitlistEntryFactory()
    history(silent, S.EXPIRED, S.EXPIRED, S.EXPIRED)
    history(answers, S.DECLINED, S.DECLINED, S.EXPIRED)
    order = list(ranked(WaitlistEntry.objects.all()).values_list("pk", flat=True))
    assert order == [answers.pk, silent.pk]


def test_offers_older_than_the_history_window_do_not_count(settings):
    entry = WaitlistEntryFactory()
    long_ago = timezone.now() - dt.timedelta(days=settings.RANKING["history_days"] + 1)
    OfferFactory(entry=entry, status=S.EXPIRED, sent_at=long_ago, created_at=long_ago)
    assert scored(entry).score_responsiveness == 0


def test_fairness_gives_a_bounded_boost_for_offers_lost_to_quicker_patients(settings):
    settings.RANKING = {**settings.RANKING, "fairness_offers_per_point": 2, "fairness_max": 3}
    entry = WaitlistEntryFactory()
    history(entry, S.SUPERSEDED, S.SUPERSEDED)
    assert scored(entry).score_fairness == 1
    history(entry, *[S.SUPERSEDED] * 10)
    entry = scored(entry)
    assert entry.score_fairness == 3
    assert "lost 12 offers to quicker patients +3" in score_breakdown(entry)


def test_a_win_resets_the_fairness_boost():
    entry = WaitlistEntryFactory()
    history(entry, S.SUPERSEDED, S.SUPERSEDED, S.SUPERSEDED, S.SUPERSEDED, S.ACCEPTED)
    assert scored(entry).score_fairness == 0


def test_the_components_list_every_part_for_every_entry_zeros_too():
    entry = WaitlistEntryFactory(urgent=True)
    history(entry, S.EXPIRED)
    labels = [label for label, _, _ in score_components(entry)]
    assert labels == ["urgent", "boost", "appointment", "waiting", "responsiveness", "fairness"]
    parts = {label: (points, words) for label, points, words in score_components(entry)}
    assert parts["urgent"] == (30, "")
    assert parts["responsiveness"][1] == "never answered the last offer"
    assert parts["fairness"] == (0, "no offers lost")


def test_estimates_take_the_patients_own_median_reply_time_and_answer_rate():
    quick, silent, new = WaitlistEntryFactory(), WaitlistEntryFactory(), WaitlistEntryFactory()
    history(quick, S.DECLINED, S.ACCEPTED, S.DECLINED, minutes_to_answer=2)
    history(silent, S.EXPIRED, S.EXPIRED, S.EXPIRED)
    estimates = estimates_for(patient_ids=[quick.patient_id, silent.patient_id, new.patient_id],
                              now=timezone.now())
    assert estimates[quick.patient_id].reply_minutes == 2
    assert estimates[quick.patient_id].answered == 3
    assert (estimates[quick.patient_id].answer_rate > estimates[new.patient_id].answer_rate
            > estimates[silent.patient_id].answer_rate)
    assert estimates[quick.patient_id].yes_rate > estimates[silent.patient_id].yes_rate


def test_the_waitlist_page_shows_every_part_and_the_words_for_each_entry(client, front_desk_user):
    silent = WaitlistEntryFactory()
    WaitlistEntryFactory(urgent=True)
    history(silent, S.EXPIRED, S.EXPIRED, S.EXPIRED, S.EXPIRED)
    client.force_login(front_desk_user)
    page = client.get(reverse("waitlist:list")).content.decode()
    assert "never answered the last 4 offers \u2212" in page
    # Every entry lists every part, zeros too.
    assert page.count("<li>responsiveness ") == 2
    assert page.count("<li>fairness 0 · no offers lost</li>") == 2
    assert "<li>urgent 30</li>" in page


def test_the_admin_shows_every_part_of_an_entrys_score(client, admin_user):
    entry = WaitlistEntryFactory(boost=5)
    history(entry, S.DECLINED, S.DECLINED, S.DECLINED)
    client.force_login(admin_user)
    page = client.get(reverse("admin:waitlist_waitlistentry_change", args=[entry.pk])).content.decode()
    assert "boost 5<br>" in page
    assert "answers often (3 of the last 3 offers)" in page
    assert "fairness 0 · no offers lost" in page
    listing = client.get(reverse("admin:waitlist_waitlistentry_changelist")).content.decode()
    assert "answers often (3 of the last 3 offers) +" in listing
