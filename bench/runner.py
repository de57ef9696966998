"""Runs the benchmark phases against the servers bench/run.sh started.

    python -m bench.runner machine seed fill contention provider_day webhook expiry scale report

Each phase stores its figures in bench/out/results.json; `report` writes bench/RESULTS.md.
"""

import os
import platform
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()

from bench import fill, scale, webhook  # noqa: E402
from bench.data import database_version, seed  # noqa: E402
from bench.lib import log, results_load, results_save  # noqa: E402
from ehr.models import ApiKey  # noqa: E402


def _machine() -> dict:
    from importlib.metadata import version

    import redis
    from django.conf import settings

    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo") if ":" in line)
    os_name = platform.platform()
    if os.path.exists("/etc/os-release"):
        release = dict(line.rstrip().split("=", 1) for line in open("/etc/os-release")
                       if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))} ({platform.release()})"
    client = redis.Redis.from_url(settings.REDIS_URL)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name")), platform.processor()),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024 / 1024, 1),
        "os": os_name,
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": database_version(),
        "redis": client.info("server")["redis_version"],
        # Versions from package metadata: importing locust here would monkey-patch this
        # process with gevent.
        "celery": version("celery"),
        "gunicorn": version("gunicorn"),
        "locust": version("locust"),
        "gunicorn_workers": int(os.environ.get("BENCH_WORKERS", "0")),
        "celery_concurrency": int(os.environ.get("BENCH_CELERY_CONCURRENCY", "0")),
        "offer_hold_seconds": settings.OFFER_HOLD_SECONDS,
        "offer_batch_size": settings.OFFER_BATCH_SIZE,
        "load_average_at_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "note": os.environ.get("BENCH_NOTE", ""),
        "quick": QUICK,
    }


# BENCH_QUICK=1: tiny counts, to smoke-test the harness while others use the machine.
QUICK = os.environ.get("BENCH_QUICK") == "1"
SIZES = {
    "fill": {"runs": 2, "per_run": 2} if QUICK else {},
    "expiry": {"runs": 1, "slots_per_run": 2} if QUICK else {},
    "contention": {"runs": 1, "holders": 20} if QUICK else {},
    "provider_day": {"runs": 1, "holders": 4} if QUICK else {},
    "webhook": {"concurrencies": (1, 10), "runs": 1, "seconds": 2} if QUICK else {},
    "scale": {"sizes": (1_000, 10_000), "repeats": 3} if QUICK else {},
}
if os.environ.get("BENCH_SCALE_SIZES"):  # e.g. "1000 10000 100000"
    SIZES["scale"]["sizes"] = tuple(int(n) for n in os.environ["BENCH_SCALE_SIZES"].split())


def main(phases: list[str]) -> None:
    for phase in phases:
        started = time.perf_counter()
        log(f"phase {phase}")
        if phase == "machine":
            results_save("machine", _machine())
        elif phase == "seed":
            results_save("seed", seed())
            ApiKey.objects.filter(name="bench").delete()
            results_save("api_key", ApiKey.issue(name="bench")[1])
        elif phase == "fill":
            results_save("fill", fill.cancellation_to_offer(
                api_key=results_load()["api_key"], **SIZES["fill"]))
        elif phase == "expiry":
            results_save("expiry", fill.hold_end_to_next_batch(**SIZES["expiry"]))
        elif phase == "contention":
            results_save("contention", webhook.contention(**SIZES["contention"]))
        elif phase == "provider_day":
            results_save("provider_day",
                         webhook.provider_day_contention(**SIZES["provider_day"]))
        elif phase == "webhook":
            results_save("webhook", webhook.inbound_load(**SIZES["webhook"]))
        elif phase == "scale":
            results_save("scale", scale.scale(**SIZES["scale"]))
        elif phase == "report":
            from bench.report import report_write

            results_save("finished", {"load_average_at_end": os.getloadavg(),
                                      "at": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
            report_write(results_load())
        else:
            raise SystemExit(f"Unknown phase {phase!r}")
        timings = results_load().get("phase_seconds", {})
        timings[phase] = round(time.perf_counter() - started, 1)
        results_save("phase_seconds", timings)


if __name__ == "__main__":
    main(sys.argv[1:])
