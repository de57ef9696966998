"""Small helpers shared by the benchmark phases: statistics, results, signed requests."""

import json
import math
import os
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_JSON = OUT_DIR / "results.json"


def base_url() -> str:
    """Where gunicorn listens; always the loopback interface."""
    url = os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:8607").rstrip("/")
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"BENCH_BASE_URL={url!r}: the benchmark only targets 127.0.0.1.")
    return url


def percentile(values, p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(per_run: list[float]) -> dict:
    """A figure measured once per run: its median and its spread (min..max) over runs."""
    values = [v for v in per_run if v is not None and not math.isnan(v)]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": per_run}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": per_run}


def results_load() -> dict:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text())
    return {}


def results_save(section: str, value) -> None:
    results = results_load()
    results[section] = value
    OUT_DIR.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2, default=str))


def twilio_signature(path: str, params: dict) -> str:
    from django.conf import settings

    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    return validator.compute_signature(settings.PUBLIC_BASE_URL + path, params)


def wait_for(predicate, *, timeout: float, interval: float = 0.05):
    """Poll until predicate() is truthy (returned) or the timeout passes (None). Only
    decides when to stop looking: latencies come from timestamps in the database."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# For the back-to-back comparison in bench/README.md ("Eight slots of one provider") only.
OLD_SLOT_LOCK = "slot and provider rows"


def slot_lock_apply_setting() -> str:
    """BENCH_SLOT_LOCK="slot and provider rows" makes this process lock a slot as the
    engine did before issue 11: a plain FOR UPDATE over the slot joined to its provider,
    which locks both rows. Never set by `make bench`; production never loads bench/.
    Returns the lock in use, for the report."""
    if os.environ.get("BENCH_SLOT_LOCK") != OLD_SLOT_LOCK:
        return "slot row only"
    from offers import locks
    from offers.models import Slot

    def lock_slot_and_provider(slot_id, *, skip_locked=False):
        return (Slot.objects.select_for_update(skip_locked=skip_locked)
                .select_related("provider").filter(pk=slot_id).first())

    locks.lock_slot = lock_slot_and_provider
    return OLD_SLOT_LOCK
