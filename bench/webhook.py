"""The inbound SMS webhook under load (locust), next to the baseline view; 100
simultaneous YES for one slot; and a provider's eight slots answered at once."""

import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlencode, urlsplit

from django.utils import timezone

from bench.data import first_handover, front_desk_user, next_slot_start, providers, slots_withdraw
from bench.lib import (
    BENCH_DIR,
    OUT_DIR,
    base_url,
    log,
    percentile,
    spread,
    twilio_signature,
    wait_for,
)
from clinic.models import Patient
from messaging.models import Message
from offers.models import Offer, Slot
from waitlist.models import WaitlistEntry

WEBHOOK = "/twilio/sms/"
BASELINE = "/bench/baseline/sms/"
CLINIC_NUMBER = "+15005550006"


def _locust(*, path: str, users: int, seconds: int, max_requests: int, phones_file,
            label: str, seed: int) -> dict:
    """One headless locust run; returns what bench/locustfile.py recorded."""
    from django.conf import settings

    out = OUT_DIR / f"locust-{label}.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_PATH": path, "BENCH_PHONES": str(phones_file),
           "BENCH_TOKEN": settings.TWILIO_AUTH_TOKEN,
           "BENCH_PUBLIC_BASE": settings.PUBLIC_BASE_URL,
           "BENCH_MAX_REQUESTS": str(max_requests), "BENCH_OUT": str(out),
           "BENCH_SEED": str(seed)}
    locust = os.path.join(os.path.dirname(sys.executable), "locust")
    command = [locust, "-f", str(BENCH_DIR / "locustfile.py"), "--headless",
               "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
               "--stop-timeout", "5", "--host", base_url(), "--only-summary",
               "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    with open(OUT_DIR / "locust.log", "a") as logfile:
        logfile.write(f"\n### {label}\n")
        logfile.flush()
        subprocess.run(command, env=env, stdout=logfile, stderr=subprocess.STDOUT,
                       timeout=seconds + 60, check=True)
    recorded = json.loads(out.read_text())
    latencies = recorded["latencies_ms"]
    duration = (recorded["last_end"] or 0) - (recorded["first_start"] or 0)
    return {
        "requests": len(latencies), "failures": recorded["failures"],
        "statuses": recorded["statuses"],
        "throughput_rps": len(latencies) / duration if duration > 0 else 0.0,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
    }


def _open_slots_with_live_offers(count: int) -> tuple[list[int], list[str]]:
    """Open slots through the engine so that some senders hold live offers: their YES
    claims a slot, their NO declines and moves the slot to its next batch."""
    from offers.services import slot_open

    user = front_desk_user()
    provs = providers()
    ids = []
    for i in range(count):
        start = next_slot_start()
        slot = slot_open(provider=provs[i % len(provs)], start=start,
                         end=start + dt.timedelta(minutes=20), recorded_by=user,
                         location=provs[i % len(provs)].location)
        ids.append(slot.pk)
    for slot_id in ids:
        wait_for(lambda slot_id=slot_id: first_handover(slot_id=slot_id), timeout=30)
    holders = list(Offer.objects.filter(slot_id__in=ids, status__in=Offer.LIVE_STATUSES)
                   .values_list("patient__phone", flat=True))
    return ids, holders


def inbound_load(*, concurrencies=(1, 10, 50), runs: int = 3, seconds: int = 8,
                 max_requests: int = 4000) -> dict:
    """Closed-loop locust users posting signed YES/NO replies as fast as answered, at each
    concurrency, alternating webhook and baseline runs so both see the same conditions."""
    everyone = (OUT_DIR / "phones.txt").read_text().split()
    slot_ids, holders = _open_slots_with_live_offers(30)
    # A third of the senders hold a live offer when the load starts; the rest answer an
    # offer that is over or never was (told so kindly): the webhook's common cases.
    others = [phone for phone in everyone if phone not in set(holders)][: 2 * len(holders)]
    phones_file = OUT_DIR / "load-phones.txt"
    phones_file.write_text("\n".join(holders + others) + "\n")
    log(f"webhook load: {len(holders)} senders hold live offers, {len(others)} do not")

    for path, label in ((BASELINE, "warmup-baseline"), (WEBHOOK, "warmup-webhook")):
        _locust(path=path, users=10, seconds=3, max_requests=500, phones_file=phones_file,
                label=label, seed=0)

    result = {"seconds": seconds, "max_requests": max_requests, "runs": runs, "levels": {}}
    seed = 1
    for users in concurrencies:
        level = {"webhook": [], "baseline": [], "replies": []}
        for run in range(runs):
            for path, name in ((BASELINE, "baseline"), (WEBHOOK, "webhook")):
                seed += 1
                since = timezone.now()
                measured = _locust(path=path, users=users, seconds=seconds,
                                   max_requests=max_requests, phones_file=phones_file,
                                   label=f"{name}-c{users}-r{run + 1}", seed=seed)
                level[name].append(measured)
                if name == "webhook":
                    # What the replies came to: the templates the webhook answered with.
                    kinds = {}
                    for kind in (Message.objects.filter(direction="out", created_at__gte=since)
                                 .values_list("kind", flat=True)):
                        kinds[kind] = kinds.get(kind, 0) + 1
                    level["replies"].append(kinds)
            ratio = level["webhook"][-1]["throughput_rps"] / max(
                level["baseline"][-1]["throughput_rps"], 1e-9)
            log(f"c={users} run {run + 1}: webhook {level['webhook'][-1]['throughput_rps']:.0f}"
                f" req/s, baseline {level['baseline'][-1]['throughput_rps']:.0f} req/s, "
                f"ratio {ratio:.2f}")
        summary = {}
        for name in ("webhook", "baseline"):
            for key in ("throughput_rps", "p50_ms", "p99_ms"):
                summary[f"{name}_{key}"] = spread([r[key] for r in level[name]])
            summary[f"{name}_failures"] = sum(r["failures"] for r in level[name])
            summary[f"{name}_requests"] = sum(r["requests"] for r in level[name])
        summary["ratio"] = spread([
            w["throughput_rps"] / b["throughput_rps"] if b["throughput_rps"] else None
            for w, b in zip(level["webhook"], level["baseline"], strict=True)])
        level["summary"] = summary
        result["levels"][str(users)] = level
    slots_withdraw(slot_ids)
    return result


def _contended_slot(run: int, holders: int) -> tuple[Slot, list[str]]:
    """A slot whose offer is live with `holders` patients at once (set up directly: the
    measurement is of the answers, not of sending the offers)."""
    now = timezone.now()
    start = next_slot_start()
    provider = providers()[0]
    slot = Slot.objects.create(provider=provider, location=provider.location, start=start,
                               end=start + dt.timedelta(minutes=20), current_batch=1)
    base = 3125000000 + run * 1000
    patients = Patient.objects.bulk_create(
        Patient(first_name=f"Race{i}", last_name=f"Run{run}", phone=f"+1{base + i}")
        for i in range(holders))
    entries = WaitlistEntry.objects.bulk_create(
        WaitlistEntry(patient=p, any_provider=True, comment="bench contention")
        for p in patients)
    Offer.objects.bulk_create(
        Offer(slot=slot, entry=e, patient=e.patient, batch=1, status=Offer.Status.SENT,
              sent_at=now, hold_until=now + dt.timedelta(minutes=10))
        for e in entries)
    return slot, [p.phone for p in patients]


def _yes_at_once(phones: list[str]) -> tuple[float, list[tuple[int, str]]]:
    """Every phone says YES at the same instant (one thread and one open connection each,
    released together by a barrier). Returns the seconds until the last answer."""
    host = urlsplit(base_url())
    barrier = threading.Barrier(len(phones) + 1)
    answers: list[tuple[int, str]] = [(0, "")] * len(phones)
    finished = [0.0] * len(phones)

    def reply(index: int, phone: str) -> None:
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32,
                  "From": phone, "To": CLINIC_NUMBER, "Body": "YES", "NumMedia": "0"}
        body = urlencode(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": twilio_signature(WEBHOOK, params)}
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
        connection.connect()
        barrier.wait()
        try:
            connection.request("POST", WEBHOOK, body=body, headers=headers)
            response = connection.getresponse()
            answers[index] = (response.status, response.read().decode())
        except OSError as exc:
            answers[index] = (0, repr(exc))
        finished[index] = time.perf_counter()
        connection.close()

    threads = [threading.Thread(target=reply, args=(i, phone)) for i, phone in enumerate(phones)]
    for thread in threads:
        thread.start()
    barrier.wait()
    released = time.perf_counter()
    for thread in threads:
        thread.join()
    return max(finished) - released, answers


def contention(*, runs: int = 3, holders: int = 100) -> dict:
    per_run = []
    for run in range(runs):
        slot, phones = _contended_slot(run, holders)
        seconds, answers = _yes_at_once(phones)
        slot.refresh_from_db()
        winners = Offer.objects.filter(slot=slot, status=Offer.Status.ACCEPTED).count()
        confirmations = Message.objects.filter(
            kind="confirmation", direction="out", patient__phone__in=phones).count()
        ok = sum(1 for status, _ in answers if status == 200)
        per_run.append({"seconds": seconds, "http_200": ok, "winners": winners,
                        "confirmations_sent": confirmations, "slot_status": slot.status})
        log(f"contention run {run + 1}: {holders} YES answered in {seconds:.3f}s, "
            f"{ok} HTTP 200, {winners} winner(s), slot {slot.status}")
    return {"holders": holders, "runs": runs, "per_run": per_run,
            "seconds": spread([r["seconds"] for r in per_run]),
            "exactly_one_winner_every_run": all(
                r["winners"] == 1 and r["confirmations_sent"] == 1 and r["http_200"] == holders
                and r["slot_status"] == Slot.Status.FILLED for r in per_run)}


def _contended_provider_day(run: int, slots: int, holders: int) -> tuple[list[Slot], list[str]]:
    """`slots` slots of one provider (a sick day), each with `holders` patients holding a
    live offer (set up directly, as in _contended_slot)."""
    now = timezone.now()
    provider = providers()[1]
    base = 3126000000 + run * 10_000
    day, phones = [], []
    for index in range(slots):
        start = next_slot_start()
        slot = Slot.objects.create(provider=provider, location=provider.location, start=start,
                                   end=start + dt.timedelta(minutes=20), current_batch=1)
        patients = Patient.objects.bulk_create(
            Patient(first_name=f"Day{index}x{i}", last_name=f"Run{run}",
                    phone=f"+1{base + index * 100 + i}") for i in range(holders))
        entries = WaitlistEntry.objects.bulk_create(
            WaitlistEntry(patient=p, any_provider=True, comment="bench provider day")
            for p in patients)
        Offer.objects.bulk_create(
            Offer(slot=slot, entry=e, patient=e.patient, batch=1, status=Offer.Status.SENT,
                  sent_at=now, hold_until=now + dt.timedelta(minutes=10))
            for e in entries)
        day.append(slot)
        phones += [p.phone for p in patients]
    return day, phones


def _while_one_slot_is_busy(run: int, slots: int) -> dict:
    """One of the provider's slots is held by a slow transaction (its lock, for
    BUSY_SECONDS), as a claim or staff action would. Meanwhile the sweep expires the
    other slots' passed holds, and one patient on each other slot texts YES: how many
    the sweep reached, and how long those YES took."""
    day, phones = _contended_provider_day(100 + run, slots, 2)
    busy, others = day[0], day[1:]
    passed = timezone.now() - dt.timedelta(seconds=1)
    Offer.objects.filter(slot__in=others, patient__first_name__endswith="x0").update(
        hold_until=passed)
    answering = [p for p in phones[2:] if p.endswith("1")]  # holder 1 of each other slot
    locked, release = threading.Event(), threading.Event()

    def hold_the_busy_slot():
        from django.db import connection, transaction

        from offers import locks

        try:
            with transaction.atomic():
                locks.lock_slot(busy.pk)
                locked.set()
                release.wait(BUSY_SECONDS)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_busy_slot)
    holder.start()
    locked.wait(30)
    from offers import services

    expired = services.offers_expire_due()
    seconds, answers = _yes_at_once(answering)
    release.set()
    holder.join()
    winners = Offer.objects.filter(slot__in=others, status=Offer.Status.ACCEPTED).count()
    slots_withdraw([s.pk for s in day])
    return {"sweep_expired": expired, "sweep_due": len(others), "yes_seconds": seconds,
            "yes_booked": winners, "yes_sent": len(answering),
            "http_200": sum(1 for status, _ in answers if status == 200)}


BUSY_SECONDS = 3


def provider_day_contention(*, runs: int = 3, slots: int = 8, holders: int = 12) -> dict:
    """A provider's `slots` slots. (1) `holders` patients on each, all texting YES at the
    same instant: the time until the last answer. (2) While one slot is held by a slow
    transaction: does the sweep still reach the others, and how long do YES on the others
    take? The engine locks only a slot's own row; if it locked the provider's row too (as
    it once did), all of one provider's slots would queue behind any one of them."""
    from bench.lib import slot_lock_apply_setting

    lock = slot_lock_apply_setting()
    per_run, busy_runs = [], []
    for run in range(runs):
        day, phones = _contended_provider_day(run, slots, holders)
        seconds, answers = _yes_at_once(phones)
        winners = [Offer.objects.filter(slot=slot, status=Offer.Status.ACCEPTED).count()
                   for slot in day]
        filled = Slot.objects.filter(pk__in=[s.pk for s in day], status=Slot.Status.FILLED)
        ok = sum(1 for status, _ in answers if status == 200)
        per_run.append({"seconds": seconds, "http_200": ok, "winners": winners,
                        "filled": filled.count()})
        log(f"provider day run {run + 1}: {len(phones)} YES over {slots} slots answered in "
            f"{seconds:.3f}s, {ok} HTTP 200, winners per slot {winners}")
        slots_withdraw([s.pk for s in day])
        busy = _while_one_slot_is_busy(run, slots)
        busy_runs.append(busy)
        log(f"provider day run {run + 1}, one slot busy for {BUSY_SECONDS}s: the sweep "
            f"expired {busy['sweep_expired']} of {busy['sweep_due']} due holds; "
            f"{busy['yes_sent']} YES on the other slots answered in "
            f"{busy['yes_seconds']:.3f}s, {busy['yes_booked']} booked")
    return {"slots": slots, "holders_per_slot": holders, "runs": runs, "per_run": per_run,
            "seconds": spread([r["seconds"] for r in per_run]), "lock": lock,
            "busy_seconds": BUSY_SECONDS, "busy_runs": busy_runs,
            "busy_yes_seconds": spread([r["yes_seconds"] for r in busy_runs]),
            "busy_sweep_expired": spread([r["sweep_expired"] for r in busy_runs]),
            "one_winner_per_slot_every_run": all(
                r["winners"] == [1] * slots and r["filled"] == slots
                and r["http_200"] == slots * holders for r in per_run)}
