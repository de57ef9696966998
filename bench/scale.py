"""Scale: choosing a batch with 1k, 10k, 100k and 1M waitlist entries, and the portal's
Today and Waitlist pages at 10k.

The waitlist grows by set-based inserts (INSERT ... SELECT generate_series), so a million
entries take seconds, not an hour of ORM saves. The traits below are spread by different
moduli of the row ids, so they do not line up with each other. The entries are a mix: most take one of
20 providers, 30% any provider; half want a specific appointment type; some have date
windows, a current appointment, urgency or a boost; 2% of patients opted out of SMS.
"""

import datetime as dt
import time

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from bench.data import PortalSession
from bench.lib import log, percentile, spread, wait_for
from clinic.models import AppointmentType, Location, Provider
from messaging.models import Message, MessageStatusEvent
from offers.models import Offer, Slot
from offers.selectors import slot_candidates
from offers.services import batch_size_for
from waitlist.models import WaitlistEntry

SIZES = (1_000, 10_000, 100_000, 1_000_000)
PROVIDERS = 20
PAGE_SIZES_AT = 10_000
# New patients' numbers: +1 313 000 0000 and up, apart from everything else the bench made.
PHONE_BASE = 3130000000

_GROW_SQL = """
WITH new_patients AS (
    INSERT INTO clinic_patient (first_name, last_name, phone, preferred_language,
                                sms_opted_out_at, phone_invalid_at, created_at, updated_at)
    SELECT 'Scale' || i, 'Patient', '+1' || (%(phone_base)s + i)::text,
           CASE WHEN i %% 4 = 0 THEN 'es' ELSE 'en' END,
           CASE WHEN (i / 10) %% 50 = 0 THEN now() END, NULL, now(), now()
    FROM generate_series(%(first)s, %(last)s) AS i
    RETURNING id
)
INSERT INTO waitlist_waitlistentry (
    patient_id, any_provider, location_id, appointment_type_id, earliest_date, latest_date,
    urgent, boost, current_appointment_at, status, source, comment, ehr_identifier_system,
    ehr_identifier_value, added_at, updated_at, added_by_id)
SELECT id,
       id %% 10 < 3,
       NULL,
       CASE WHEN id %% 2 = 0 THEN NULL
            ELSE (%(types)s::bigint[])[1 + (id / 2) %% cardinality(%(types)s::bigint[])] END,
       CASE WHEN (id / 10) %% 10 >= 7 THEN current_date + (id %% 20)::int END,
       CASE WHEN (id / 10) %% 10 >= 7 THEN current_date + (20 + id %% 60)::int END,
       (id / 7) %% 20 = 0,
       CASE WHEN (id / 13) %% 10 = 0 THEN (id %% 8) * 5 ELSE 0 END,
       CASE WHEN (id / 100) %% 5 < 3 THEN now() + make_interval(days => (id %% 240)::int) END,
       'active', 'portal', '', '', '',
       now() - make_interval(days => (id %% 400)::int, secs => (id %% 86400)::int),
       now(), NULL
FROM new_patients
"""

_PROVIDERS_SQL = """
INSERT INTO waitlist_waitlistentry_providers (waitlistentry_id, provider_id)
SELECT id, (%(providers)s::bigint[])[1 + (id / 10) %% cardinality(%(providers)s::bigint[])]
FROM waitlist_waitlistentry WHERE id > %(after)s AND NOT any_provider
"""


def _reset() -> None:
    """Start the scale phase from an empty waitlist (the bench database is throwaway).

    The Celery worker may still be sending the "offer closed" texts of withdrawn slots:
    let it finish, and try again if TRUNCATE still meets one of its transactions.
    """
    wait_for(lambda: not Message.objects.filter(status__in=("queued", "sending")).exists(),
             timeout=60, interval=0.5)
    for attempt in range(5):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "TRUNCATE messaging_messagestatusevent, messaging_message, offers_offer, "
                    "offers_slot, waitlist_waitlistentry_providers, waitlist_waitlistentry, "
                    "clinic_patient CASCADE")
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(2)


def _providers() -> list[Provider]:
    location = Location.objects.order_by("pk").first()
    existing = Provider.objects.count()
    Provider.objects.bulk_create(
        Provider(name=f"Dr. Bench {i}", identifier_system="urn:bench:providers",
                 identifier_value=str(i), location=location)
        for i in range(existing, PROVIDERS))
    return list(Provider.objects.order_by("pk")[:PROVIDERS])


def _grow(to: int, providers: list[Provider]) -> float:
    """Add entries (each with its own patient) until `to` are active; returns seconds."""
    have = WaitlistEntry.objects.count()
    if have >= to:
        return 0.0
    after = WaitlistEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_GROW_SQL, {
            "phone_base": PHONE_BASE, "first": have, "last": to - 1,
            "types": list(AppointmentType.objects.values_list("pk", flat=True))})
        cursor.execute(_PROVIDERS_SQL, {"providers": [p.pk for p in providers],
                                        "after": after})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinic_patient, waitlist_waitlistentry, "
                       "waitlist_waitlistentry_providers, offers_offer")
    return time.perf_counter() - started


def _measured_slot(provider: Provider) -> Slot:
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) \
        + dt.timedelta(days=3)
    return Slot.objects.create(provider=provider, location=provider.location, start=start,
                               end=start + dt.timedelta(minutes=20),
                               appointment_type=AppointmentType.objects.order_by("pk").first())


def _choose_batch(slot: Slot, repeats: int) -> tuple[list[float], str, int]:
    """The engine's batch choice: slot_candidates(...)[:size], exactly as _send_batch asks
    for it (a read: nothing is offered)."""
    timings = []
    chosen = 0
    for _ in range(repeats):
        now = timezone.now()
        size = batch_size_for(slot=slot, at=now)
        started = time.perf_counter()
        chosen = len(list(slot_candidates(slot=slot, at=now)[:size]))
        timings.append((time.perf_counter() - started) * 1000)
    plan = slot_candidates(slot=slot, at=timezone.now())[: settings.OFFER_BATCH_SIZE].explain(
        analyze=True, buffers=True)
    return timings, plan, chosen


def _today_board(providers: list[Provider]) -> None:
    """A busy day on the Today page: 25 freed slots, each with a batch or two of offers
    and their SMS (a third already filled)."""
    now = timezone.now()
    morning = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0)
    entries = list(WaitlistEntry.objects.filter(any_provider=True)
                   .select_related("patient").order_by("pk")[:200])
    for i in range(25):
        start = morning + dt.timedelta(days=1, minutes=20 * i)
        slot = Slot.objects.create(provider=providers[i % len(providers)], start=start,
                                   end=start + dt.timedelta(minutes=20), current_batch=2)
        picked = entries[i * 6:(i + 1) * 6]
        offers = Offer.objects.bulk_create(
            Offer(slot=slot, entry=e, patient=e.patient, batch=1 + n // 3, score=10,
                  status="expired" if n < 3 else ("accepted" if i % 3 == 0 and n == 3
                                                  else "declined"),
                  sent_at=now, hold_until=now + dt.timedelta(minutes=7))
            for n, e in enumerate(picked))
        if i % 3 == 0:
            Slot.objects.filter(pk=slot.pk).update(status="filled", filled_via="sms",
                                                   filled_entry=picked[3])
        messages = Message.objects.bulk_create(
            Message(direction="out", from_number="+15005550006", to_number=o.patient.phone,
                    body="(bench)", kind="offer", status="delivered", patient=o.patient,
                    subject=o, sent_at=now) for o in offers)
        MessageStatusEvent.objects.bulk_create(
            MessageStatusEvent(message=m, status="delivered") for m in messages)


def _pages(*, runs: int = 3, repeats: int = 15) -> dict:
    """Each page fetched in `runs` series of `repeats` requests; its p50 and p95 are
    reported as the median and spread (min..max) of the series' values, like every other
    figure."""
    session = PortalSession()
    pages = {"today": reverse("portal:today"), "waitlist": reverse("waitlist:list")}
    result = {}
    for name, path in pages.items():
        session.get(path)  # a first request warms the worker's caches
        series = []
        for _ in range(runs):
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = session.get(path)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered HTTP {response.status_code}")
            series.append(timings)
        result[name] = {
            "path": path, "requests": runs * repeats,
            "p50_ms": spread([percentile(t, 50) for t in series]),
            "p95_ms": spread([percentile(t, 95) for t in series]),
            "max_ms": max(max(t) for t in series),
            "timings_ms": series, "bytes": len(response.content)}
        log(f"{name} page at {PAGE_SIZES_AT} entries: p50 "
            f"{result[name]['p50_ms']['median']:.1f} ms")
    return result


def scale(*, sizes=SIZES, repeats: int = 7) -> dict:
    _reset()
    providers = _providers()
    result = {"sizes": {}, "pages": None}
    for size in sizes:
        grew = _grow(size, providers)
        slot = _measured_slot(providers[1])
        timings, plan, chosen = _choose_batch(slot, repeats)
        fitting = slot_candidates(slot=slot).count()
        slot.delete()
        result["sizes"][str(size)] = {
            "insert_s": grew, "chosen": chosen, "fitting": fitting, "timings_ms": timings,
            "ms": spread(timings), "plan": plan}
        log(f"choose a batch at {size} entries: median {result['sizes'][str(size)]['ms']['median']:.1f}"
            f" ms ({chosen} chosen; growing took {grew:.1f}s)")
        if size == PAGE_SIZES_AT:
            _today_board(providers)
            result["pages"] = _pages()
    return result
