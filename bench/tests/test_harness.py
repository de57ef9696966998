"""The benchmark harness's own pieces: the baseline view and where it is routed, the
statistics, and the report's verdicts. (The benchmarks themselves run in `make bench`.)"""

import pytest
from django.test import Client, override_settings
from django.urls import NoReverseMatch, reverse
from twilio.request_validator import RequestValidator

from bench.lib import percentile, spread
from bench.report import report_build
from messaging.models import Message

TOKEN = "bench-test-token"
BASE = "http://testserver"
PATH = "/bench/baseline/sms/"


def _signed(params: dict) -> str:
    return RequestValidator(TOKEN).compute_signature(BASE + PATH, params)


PARAMS = {"MessageSid": "SM" + "1" * 32, "From": "+13125550150", "To": "+15005550006",
          "Body": "YES"}


@pytest.mark.django_db
def test_the_product_does_not_route_the_baseline():
    with pytest.raises(NoReverseMatch):
        reverse("bench_baseline_sms")
    response = Client().post(PATH, PARAMS, HTTP_X_TWILIO_SIGNATURE=_signed(PARAMS))
    assert response.status_code == 404
    assert not Message.objects.exists()


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls", TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE)
def test_baseline_logs_one_message_for_a_signed_request():
    response = Client().post(PATH, PARAMS, HTTP_X_TWILIO_SIGNATURE=_signed(PARAMS))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    message = Message.objects.get()
    assert (message.direction, message.from_number, message.twilio_sid) == (
        "in", "+13125550150", PARAMS["MessageSid"])


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls", TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=BASE)
def test_baseline_refuses_a_bad_signature_and_logs_nothing():
    response = Client().post(PATH, PARAMS, HTTP_X_TWILIO_SIGNATURE="bm90IGl0")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_percentile_interpolates_between_samples():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 0) == 1
    assert percentile([1, 2, 3, 4, 5], 100) == 5
    assert percentile(list(range(101)), 99) == 99


def test_spread_gives_median_and_range_over_runs():
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0,
                                       "runs": [3.0, 1.0, 2.0]}
    assert spread([None])["median"] is None


def test_report_names_missed_targets():
    results = {
        "fill": {"runs": 1, "per_run": 1, "failures": 0,
                 **{f"{p}_{k}": spread([v]) for p in ("portal", "fhir")
                    for k, v in (("p50_s", 1.5), ("p95_s", 2.0), ("http_p50_s", 0.1))}},
        "expiry": {"hold_seconds": 60, "runs": 1, "slots_per_run": 1, "failures": 0,
                   "p50_s": spread([0.3]), "p95_s": spread([0.4])},
    }
    report = report_build(results)
    assert "| cancellation (portal form) → first offer handed over, p50 | 1.500 s | < 1 s | " \
           "**missed** |" in report
    assert "| hold ends → next batch handed over, p95 | 0.400 s | < 5 s | met |" in report


def test_report_gives_portal_pages_as_median_and_spread_over_series():
    page = {"path": "/", "requests": 45, "p50_ms": spread([30.0, 28.0, 35.0]),
            "p95_ms": spread([90.0, 250.0, 120.0]), "max_ms": 260.0,
            "timings_ms": [[30.0]], "bytes": 20480}
    results = {"scale": {"sizes": {}, "pages": {"today": page}}}
    report = report_build(results)
    # The verdict follows the median p95 of the series (120 ms), not its worst one.
    assert "| Today page at 10,000 entries, p95 | 120 ms (90–250) | < 200 ms | met |" in report
    assert "| today (`/`) | 30.0 ms (28.0–35.0) | 120.0 ms (90.0–250.0) | 260.0 ms | 20 KiB |" \
        in report


def test_report_shows_a_providers_eight_slots_and_the_one_busy_slot():
    runs = [{"seconds": 2.1, "http_200": 96, "winners": [1] * 8, "filled": 8}]
    busy = [{"sweep_expired": 7, "sweep_due": 7, "yes_seconds": 0.14, "yes_booked": 7,
             "yes_sent": 7, "http_200": 7}]
    results = {"provider_day": {
        "slots": 8, "holders_per_slot": 12, "runs": 1, "per_run": runs,
        "seconds": spread([2.1]), "lock": "slot row only", "busy_seconds": 3,
        "busy_runs": busy, "busy_yes_seconds": spread([0.14]),
        "busy_sweep_expired": spread([7]), "one_winner_per_slot_every_run": True}}
    report = report_build(results)
    assert "| 8 slots of one provider, 96 simultaneous YES: all answered in | 2.10 s | " \
           "one winner per slot | met |" in report
    assert "| 1 | 7 of 7 | 0.140 s | 7 of 7 |" in report
    assert "engine locks: slot row only" in report


def test_the_old_slot_lock_is_used_only_when_the_comparison_asks_for_it(monkeypatch):
    from bench.lib import OLD_SLOT_LOCK, slot_lock_apply_setting
    from offers import locks

    monkeypatch.delenv("BENCH_SLOT_LOCK", raising=False)
    original = locks.lock_slot
    assert slot_lock_apply_setting() == "slot row only"
    assert locks.lock_slot is original
    monkeypatch.setattr(locks, "lock_slot", original)  # restored after the test
    monkeypatch.setenv("BENCH_SLOT_LOCK", OLD_SLOT_LOCK)
    assert slot_lock_apply_setting() == OLD_SLOT_LOCK
    assert locks.lock_slot is not original
