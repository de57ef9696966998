"""Fill latency: how soon the first offer leaves after a cancellation is recorded, and
how soon the next batch follows when a batch's holds end.

Both are read from the database: Slot.created_at (the cancellation recorded), Offer.
hold_until (the hold's end) and the "sending" MessageStatusEvent that messaging writes
just before it calls the SMS backend (the offer handed over). Polling only decides when
to look.
"""

import datetime as dt
import json
import time
import uuid

import requests
from django.conf import settings
from django.utils import timezone

from bench.data import (
    PortalSession,
    first_handover,
    front_desk_user,
    next_slot_start,
    providers,
    slots_withdraw,
)
from bench.lib import base_url, log, percentile, spread, wait_for
from offers.models import Offer, Slot

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
EHR_IDS = "urn:bench:cancelled-appointments"
HANDOVER_TIMEOUT = 20.0


def _portal_cancel(session: PortalSession, provider, start: dt.datetime) -> tuple[int, float]:
    local = timezone.localtime(start)
    started = time.perf_counter()
    response = session.post("/slots/new/", {
        "provider": provider.pk, "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"), "duration": 20, "appointment_type": ""})
    elapsed = time.perf_counter() - started
    if response.status_code != 302:
        raise RuntimeError(f"Portal refused the cancellation: HTTP {response.status_code}")
    slot = Slot.objects.filter(provider=provider, start=start).latest("pk")
    return slot.pk, elapsed


def _fhir_cancel(api_key: str, provider, start: dt.datetime) -> tuple[int, float]:
    identifier = f"bench-{uuid.uuid4().hex[:12]}"
    resource = {
        "resourceType": "Appointment",
        "status": "cancelled",
        "identifier": [{"system": EHR_IDS, "value": identifier}],
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=20)).isoformat(),
        "participant": [{"actor": {
            "identifier": {"system": NPI_SYSTEM, "value": provider.identifier_value},
            "display": provider.name}, "status": "accepted"}],
    }
    started = time.perf_counter()
    response = requests.post(
        base_url() + "/api/fhir/Appointment", data=json.dumps(resource), timeout=30,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json",
                 "X-Forwarded-Proto": "https"})
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"FHIR API refused the cancellation: HTTP {response.status_code} "
                           f"{response.text[:300]}")
    slot = Slot.objects.get(ehr_identifier_system=EHR_IDS, ehr_identifier_value=identifier)
    return slot.pk, elapsed


def cancellation_to_offer(*, api_key: str, runs: int = 3, per_run: int = 8) -> dict:
    """Cancellations recorded one at a time (portal form, then FHIR API, alternating);
    for each, the time from Slot.created_at to the first offer handed to the backend."""
    session = PortalSession()
    provs = providers()
    result = {"runs": runs, "per_run": per_run, "portal": [], "fhir": [], "failures": 0}
    for run in range(runs):
        samples = {"portal": [], "fhir": []}
        responses = {"portal": [], "fhir": []}
        slot_ids = []
        for i in range(per_run):
            for path in ("portal", "fhir"):
                provider = provs[(i + run) % len(provs)]
                start = next_slot_start()
                if path == "portal":
                    slot_id, took = _portal_cancel(session, provider, start)
                else:
                    slot_id, took = _fhir_cancel(api_key, provider, start)
                slot_ids.append(slot_id)
                handed = wait_for(lambda slot_id=slot_id: first_handover(slot_id=slot_id),
                                  timeout=HANDOVER_TIMEOUT)
                if handed is None:
                    result["failures"] += 1
                    continue
                created = Slot.objects.values_list("created_at", flat=True).get(pk=slot_id)
                samples[path].append((handed - created).total_seconds())
                responses[path].append(took)
        slots_withdraw(slot_ids)
        for path in ("portal", "fhir"):
            result[path].append({
                "p50_s": percentile(samples[path], 50), "p95_s": percentile(samples[path], 95),
                "max_s": max(samples[path], default=None), "samples_s": samples[path],
                "http_p50_s": percentile(responses[path], 50)})
        log(f"cancellation -> offer, run {run + 1}: portal p50 "
            f"{result['portal'][-1]['p50_s']:.3f}s, FHIR p50 {result['fhir'][-1]['p50_s']:.3f}s")
    for path in ("portal", "fhir"):
        result[f"{path}_p50_s"] = spread([r["p50_s"] for r in result[path]])
        result[f"{path}_p95_s"] = spread([r["p95_s"] for r in result[path]])
        result[f"{path}_http_p50_s"] = spread([r["http_p50_s"] for r in result[path]])
    return result


def hold_end_to_next_batch(*, runs: int = 3, slots_per_run: int = 4,
                           stagger_s: float = 20.0) -> dict:
    """Slots opened by the engine (as the portal does); nobody answers; when the first
    batch's holds end, the next batch must follow. Measured per slot: the first batch-2
    offer handed to the backend minus the latest hold_until of batch 1.

    The runs are started `stagger_s` apart rather than one after another: the holds last
    OFFER_HOLD_SECONDS, and waiting is all a run does until they end.
    """
    hold = settings.OFFER_HOLD_SECONDS
    user = front_desk_user()
    provs = providers()
    from offers.services import slot_open

    groups = []
    for run in range(runs):
        if run:
            time.sleep(stagger_s)
        ids = []
        for i in range(slots_per_run):
            start = next_slot_start()
            slot = slot_open(provider=provs[i % len(provs)], start=start,
                             end=start + dt.timedelta(minutes=20), recorded_by=user,
                             location=provs[i % len(provs)].location)
            ids.append(slot.pk)
        groups.append(ids)
        log(f"hold end -> next batch, run {run + 1}: {slots_per_run} slots opened, "
            f"holds of {hold}s running")

    per_run = []
    failures = 0
    for ids in groups:
        samples = []
        for slot_id in ids:
            handed = wait_for(lambda slot_id=slot_id: first_handover(slot_id=slot_id, batch=2),
                              timeout=hold + 60, interval=0.5)
            # An offer whose text never left has no hold (and NULL sorts first here on
            # PostgreSQL): only holds that ran count.
            hold_end = (Offer.objects.filter(slot_id=slot_id, batch=1, hold_until__isnull=False)
                        .order_by("-hold_until").values_list("hold_until", flat=True).first())
            if handed is None or hold_end is None:
                failures += 1
                continue
            samples.append((handed - hold_end).total_seconds())
        per_run.append({"p50_s": percentile(samples, 50), "p95_s": percentile(samples, 95),
                        "max_s": max(samples, default=None), "samples_s": samples})
        log(f"hold end -> next batch: p95 {per_run[-1]['p95_s']:.3f}s")
        slots_withdraw(ids)
    return {"hold_seconds": hold, "runs": runs, "slots_per_run": slots_per_run,
            "failures": failures, "per_run": per_run,
            "p50_s": spread([r["p50_s"] for r in per_run]),
            "p95_s": spread([r["p95_s"] for r in per_run])}
