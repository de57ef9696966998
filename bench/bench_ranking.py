"""Time choosing one batch of offers from a large waitlist, on PostgreSQL.

    .venv/bin/python bench/bench_ranking.py                 # 10k and 100k entries
    .venv/bin/python bench/bench_ranking.py --entries 50000 --repeat 50

It uses its own database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/slotfill_bench_ranking), which it creates, migrates and
refills: never point it at data you want to keep. What is timed is exactly what the
engine runs when a batch goes out: offers.selectors.slot_candidates(slot=...)[:batch],
matching, the live-offer and already-offered exclusions, and the ranking, all in one
query. Results are in bench/README.md.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/slotfill_bench_ranking"


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int, *, rng: random.Random):
    """n waitlist entries shaped like a busy multi-site clinic's: 20 providers at 3
    sites, 40% take any provider, most have a current appointment, waits up to a year,
    a few urgent or boosted, some date windows, 1% holding a live offer elsewhere."""
    from django.db import connection
    from django.utils import timezone

    from clinic.models import AppointmentType, Location, Patient, Provider
    from offers.models import Offer, Slot
    from waitlist.models import WaitlistEntry

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE offers_offer, offers_historicaloffer, offers_slot, offers_historicalslot,"
            " waitlist_waitlistentry_providers, waitlist_waitlistentry,"
            " waitlist_historicalwaitlistentry, waitlist_historicalwaitlistentry_providers,"
            " clinic_patient, clinic_historicalpatient, clinic_provider, clinic_location,"
            " clinic_appointmenttype RESTART IDENTITY CASCADE"
        )
    now = timezone.now()
    sites = [Location.objects.create(name=f"Site {i}") for i in range(3)]
    providers = [
        Provider.objects.create(name=f"Dr. Bench {i}", identifier_value=f"B{i:04d}",
                                location=sites[i % 3])
        for i in range(20)
    ]
    types = [AppointmentType.objects.create(code=f"type-{i}", name=f"Type {i}",
                                            duration_minutes=20 * (i + 1)) for i in range(3)]
    patients = Patient.objects.bulk_create(
        [Patient(first_name=f"P{i}", phone=f"+1312{i:07d}") for i in range(n)], batch_size=5000
    )
    entries = []
    for patient in patients:
        any_provider = rng.random() < 0.4
        earliest = latest = None
        if rng.random() < 0.3:
            earliest = (now + dt.timedelta(days=rng.randint(-30, 30))).date()
            latest = earliest + dt.timedelta(days=rng.randint(7, 120))
        entries.append(WaitlistEntry(
            patient=patient, any_provider=any_provider,
            location=rng.choice(sites) if rng.random() < 0.2 else None,
            appointment_type=rng.choice(types) if rng.random() < 0.5 else None,
            earliest_date=earliest, latest_date=latest,
            urgent=rng.random() < 0.05,
            boost=rng.choice([5, 10, 20]) if rng.random() < 0.1 else 0,
            current_appointment_at=(now + dt.timedelta(days=rng.randint(1, 365))
                                    if rng.random() < 0.7 else None),
            added_at=now - dt.timedelta(days=rng.uniform(0, 365)),
        ))
    entries = WaitlistEntry.objects.bulk_create(entries, batch_size=5000)
    Through = WaitlistEntry.providers.through
    links = []
    for entry in entries:
        if not entry.any_provider:
            for provider in rng.sample(providers, rng.choice([1, 1, 2])):
                links.append(Through(waitlistentry_id=entry.pk, provider_id=provider.pk))
    Through.objects.bulk_create(links, batch_size=10000)

    # Some patients hold live offers for other slots; they must be skipped.
    start = (now + dt.timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
    other = Slot.objects.create(provider=providers[1], start=start,
                                end=start + dt.timedelta(minutes=60))
    Offer.objects.bulk_create(
        [Offer(slot=other, entry=e, patient_id=e.patient_id, batch=1, status="sent",
               sent_at=now, hold_until=now + dt.timedelta(minutes=7))
         for e in rng.sample(entries, n // 100)], batch_size=5000,
    )
    slot = Slot.objects.create(provider=providers[0], start=start - dt.timedelta(hours=2),
                               end=start - dt.timedelta(hours=2) + dt.timedelta(minutes=20),
                               appointment_type=types[0])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return slot


def run(n: int, repeat: int, batch: int) -> dict:
    from offers.models import Slot
    from offers.selectors import slot_candidates

    slot = seed(n, rng=random.Random(n))
    slot = Slot.objects.select_related("provider", "appointment_type", "location").get(pk=slot.pk)
    chosen = [e.pk for e in slot_candidates(slot=slot)[:batch]]  # warm the caches
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        again = [e.pk for e in slot_candidates(slot=slot)[:batch]]
        timings.append((time.perf_counter() - began) * 1000)
        assert again == chosen
    matching = slot_candidates(slot=slot).count()
    timings.sort()
    return {
        "entries": n, "matching": matching, "batch": len(chosen),
        "median_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1], "max_ms": timings[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batch", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench_ranking needs PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
    ensure_database(url)
    setup_django(url)
    from django.db import connection

    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, "
          f"choose a batch of {args.batch}, {args.repeat} runs each")
    print(f"{'entries':>8} {'matching':>9} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for n in args.entries:
        r = run(n, args.repeat, args.batch)
        print(f"{r['entries']:>8} {r['matching']:>9} {r['median_ms']:>10.1f} "
              f"{r['p95_ms']:>8.1f} {r['max_ms']:>8.1f}")


if __name__ == "__main__":
    main()
