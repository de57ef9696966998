"""bench/RESULTS.md from bench/out/results.json."""

from bench.lib import BENCH_DIR, OUT_DIR

TARGETS = {
    "ratio": 0.5,          # webhook throughput / baseline throughput, at least
    "fill_p50_s": 1.0,     # cancellation -> first offer handed over, p50 under
    "expiry_p95_s": 5.0,   # hold end -> next batch handed over, p95 under
    "page_ms": 200.0,      # Today and Waitlist pages at 10k entries, under
}


def _fmt(figure: dict | None, unit: str = "", digits: int = 2, scale: float = 1.0) -> str:
    if not figure or figure.get("median") is None:
        return "n/a"
    median, low, high = (figure[k] * scale for k in ("median", "min", "max"))
    if len(figure.get("runs", [])) <= 1:
        return f"{median:.{digits}f}{unit}"
    return f"{median:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f})"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def report_build(results: dict) -> str:
    machine = results.get("machine", {})
    lines = ["# Benchmark results", "",
             "Written by `make bench` (bench/run.sh); see bench/README.md for what each figure "
             "means and how it is measured. Each figure is the **median over the runs, with "
             "the spread (min–max) in brackets**.", ""]
    if machine.get("quick"):
        lines += ["> **Smoke test (BENCH_QUICK=1): tiny counts, not a measurement.**", ""]
    if machine.get("note"):
        lines += [f"> Note: {machine['note']}", ""]
    load_start = machine.get("load_average_at_start")
    load_end = results.get("finished", {}).get("load_average_at_end")
    lines += [
        "## Machine", "",
        "| | |", "| --- | --- |",
        f"| CPUs | {machine.get('cpus')} × {machine.get('cpu_model')} |",
        f"| memory | {machine.get('memory_gib')} GiB |",
        f"| OS | {machine.get('os')} |",
        f"| Python / Django | {machine.get('python')} / {machine.get('django')} |",
        f"| PostgreSQL / Redis | {machine.get('postgresql')} / {machine.get('redis')} |",
        f"| gunicorn / Celery / locust | {machine.get('gunicorn')} / {machine.get('celery')} / "
        f"{machine.get('locust')} |",
        f"| stack | gunicorn {machine.get('gunicorn_workers')} sync workers on 127.0.0.1; one "
        f"Celery worker (concurrency {machine.get('celery_concurrency')}) and beat on Redis; "
        f"console SMS backend; OFFER_HOLD_SECONDS={machine.get('offer_hold_seconds')}, "
        f"OFFER_BATCH_SIZE={machine.get('offer_batch_size')} |",
        f"| load average (1/5/15 min) | at start {_load(load_start)}, at end {_load(load_end)} |",
        f"| run | started {machine.get('started')}; phases took "
        f"{_phase_times(results.get('phase_seconds', {}))} |",
        "",
    ]
    lines += _summary(results)
    lines += _webhook(results.get("webhook"))
    lines += _contention(results.get("contention"))
    lines += _provider_day(results.get("provider_day"))
    lines += _fill(results.get("fill"), results.get("expiry"))
    lines += _scale(results.get("scale"))
    ranking = OUT_DIR / "ranking.txt"
    if ranking.exists() and ranking.read_text().strip():
        lines += ["## Ranking (bench/bench_ranking.py)", "", "```",
                  ranking.read_text().strip(), "```", ""]
    return "\n".join(lines) + "\n"


def _load(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "n/a"


def _phase_times(times: dict) -> str:
    total = sum(times.values())
    return ", ".join(f"{k} {v:.0f}s" for k, v in times.items()) + f" (total {total:.0f}s)"


def summary_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(figure, result, target, verdict) for the README and RESULTS.md."""
    rows = []
    webhook = results.get("webhook")
    if webhook:
        for users, level in webhook["levels"].items():
            ratio = level["summary"]["ratio"]
            rows.append((f"webhook throughput / baseline, concurrency {users}",
                         _fmt(ratio), f"≥ {TARGETS['ratio']}",
                         _verdict(ratio["median"] >= TARGETS["ratio"]
                                  if ratio["median"] is not None else None)))
    contention = results.get("contention")
    if contention:
        rows.append((f"{contention['holders']} simultaneous YES: all answered in",
                     _fmt(contention["seconds"], " s"), "exactly one winner",
                     "met" if contention["exactly_one_winner_every_run"] else "**missed**"))
    day = results.get("provider_day")
    if day:
        rows.append((f"{day['slots']} slots of one provider, {day['slots'] * day['holders_per_slot']} "
                     "simultaneous YES: all answered in", _fmt(day["seconds"], " s"),
                     "one winner per slot",
                     "met" if day["one_winner_per_slot_every_run"] else "**missed**"))
        if day.get("busy_runs"):
            rows.append(("one of those slots busy: YES on its provider's other slots "
                         "answered in", _fmt(day["busy_yes_seconds"], " s", 3),
                         "not waiting for the busy slot", ""))
    fill = results.get("fill")
    if fill:
        for path, name in (("portal", "portal form"), ("fhir", "FHIR API")):
            p50 = fill[f"{path}_p50_s"]
            rows.append((f"cancellation ({name}) → first offer handed over, p50",
                         _fmt(p50, " s", 3), f"< {TARGETS['fill_p50_s']:.0f} s",
                         _verdict(p50["median"] < TARGETS["fill_p50_s"]
                                  if p50["median"] is not None else None)))
    expiry = results.get("expiry")
    if expiry:
        p95 = expiry["p95_s"]
        rows.append(("hold ends → next batch handed over, p95", _fmt(p95, " s", 3),
                     f"< {TARGETS['expiry_p95_s']:.0f} s",
                     _verdict(p95["median"] < TARGETS["expiry_p95_s"]
                              if p95["median"] is not None else None)))
    scale = results.get("scale")
    if scale:
        for size, data in scale["sizes"].items():
            rows.append((f"choose a batch, {int(size):,} entries", _fmt(data["ms"], " ms", 1),
                         "grows gently", ""))
        for name, page in (scale.get("pages") or {}).items():
            p95 = page["p95_ms"]
            rows.append((f"{name.capitalize()} page at 10,000 entries, p95",
                         _fmt(p95, " ms", 0), f"< {TARGETS['page_ms']:.0f} ms",
                         _verdict(p95["median"] < TARGETS["page_ms"]
                                  if p95["median"] is not None else None)))
    return rows


def _summary(results: dict) -> list[str]:
    lines = ["## Summary", "", "| figure | result | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(results)]
    return lines + [""]


def _webhook(webhook: dict | None) -> list[str]:
    if not webhook:
        return []
    lines = ["## Inbound webhook vs. baseline", "",
             f"locust, closed loop (each user sends its next signed reply as soon as the last "
             f"is answered), {webhook['seconds']} s per run (at most "
             f"{webhook['max_requests']} requests), {webhook['runs']} runs per level, webhook "
             "and baseline runs alternating. The baseline (`/bench/baseline/sms/`) checks the "
             "signature and inserts one message row; the webhook (`/twilio/sms/`) does the "
             "real work.", "",
             "| users | webhook req/s | baseline req/s | ratio | webhook p50 / p99 ms | "
             "baseline p50 / p99 ms | errors (webhook / baseline) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for users, level in webhook["levels"].items():
        s = level["summary"]
        lines.append(
            f"| {users} | {_fmt(s['webhook_throughput_rps'], '', 0)} | "
            f"{_fmt(s['baseline_throughput_rps'], '', 0)} | {_fmt(s['ratio'])} | "
            f"{_fmt(s['webhook_p50_ms'], '', 1)} / {_fmt(s['webhook_p99_ms'], '', 1)} | "
            f"{_fmt(s['baseline_p50_ms'], '', 1)} / {_fmt(s['baseline_p99_ms'], '', 1)} | "
            f"{s['webhook_failures']} / {s['baseline_failures']} |")
    replies = {}
    for level in webhook["levels"].values():
        for kinds in level["replies"]:
            for kind, count in kinds.items():
                replies[kind] = replies.get(kind, 0) + count
    if replies:
        mix = ", ".join(f"{kind or '(reply)'} {count}" for kind, count in
                        sorted(replies.items(), key=lambda kv: -kv[1]))
        lines += ["", f"What the webhook runs answered (outbound messages by template): {mix}."]
    return lines + [""]


def _contention(contention: dict | None) -> list[str]:
    if not contention:
        return []
    lines = ["## Contention", "",
             f"{contention['holders']} patients hold a live offer for one slot and all text "
             "YES at the same instant (one thread and one open connection each, released by "
             "a barrier). Time until the last answer; then the database is checked.", "",
             "| run | all answered in | HTTP 200 | accepted offers | confirmations sent | "
             "slot |", "| --- | --- | --- | --- | --- | --- |"]
    for i, run in enumerate(contention["per_run"], 1):
        lines.append(f"| {i} | {run['seconds']:.3f} s | {run['http_200']} | {run['winners']} "
                     f"| {run['confirmations_sent']} | {run['slot_status']} |")
    return lines + [""]


def _provider_day(day: dict | None) -> list[str]:
    if not day:
        return []
    lines = ["## Eight slots of one provider", "",
             f"A provider's {day['slots']} slots, {day['holders_per_slot']} patients holding a "
             "live offer on each, and every one of them texts YES at the same instant. Time "
             f"until the last answer (engine locks: {day['lock']}); then each slot must have "
             "exactly one winner.", "",
             "| run | all answered in | HTTP 200 | winners per slot | slots filled |",
             "| --- | --- | --- | --- | --- |"]
    for i, run in enumerate(day["per_run"], 1):
        lines.append(f"| {i} | {run['seconds']:.3f} s | {run['http_200']} | "
                     f"{' '.join(str(w) for w in run['winners'])} | {run['filled']} |")
    if day.get("busy_runs"):
        lines += ["", f"Then one of the {day['slots']} slots is held by a slow transaction for "
                  f"{day['busy_seconds']} s (its lock, as a claim or staff action takes it). "
                  "Meanwhile the sweep runs over the other slots' passed holds, and one patient "
                  "on each other slot texts YES.", "",
                  "| run | sweep expired (of due) | YES on the other slots answered in | "
                  "booked |", "| --- | --- | --- | --- |"]
        for i, run in enumerate(day["busy_runs"], 1):
            lines.append(f"| {i} | {run['sweep_expired']} of {run['sweep_due']} | "
                         f"{run['yes_seconds']:.3f} s | {run['yes_booked']} of "
                         f"{run['yes_sent']} |")
    return lines + [""]


def _fill(fill: dict | None, expiry: dict | None) -> list[str]:
    lines = ["## Fill latency", ""]
    if fill:
        lines += [
            f"{fill['per_run']} cancellations per path per run, {fill['runs']} runs, recorded "
            "one at a time. From `Slot.created_at` to the first offer's `sending` status "
            "event (written just before the SMS backend is called).", "",
            "| path | p50 | p95 | HTTP response p50 | failures |",
            "| --- | --- | --- | --- | --- |"]
        for path, name in (("portal", "portal form POST"), ("fhir", "FHIR API POST")):
            lines.append(f"| {name} | {_fmt(fill[f'{path}_p50_s'], ' s', 3)} | "
                         f"{_fmt(fill[f'{path}_p95_s'], ' s', 3)} | "
                         f"{_fmt(fill[f'{path}_http_p50_s'], ' s', 3)} | "
                         f"{fill['failures']} |")
        lines.append("")
    if expiry:
        lines += [
            f"Hold end → next batch: {expiry['slots_per_run']} slots per run, {expiry['runs']} "
            f"runs, holds of {expiry['hold_seconds']} s that nobody answers. From the latest "
            "`hold_until` of batch 1 to the first batch-2 offer's `sending` event.", "",
            f"- p50 {_fmt(expiry['p50_s'], ' s', 3)}, p95 {_fmt(expiry['p95_s'], ' s', 3)}; "
            f"{expiry['failures']} slot(s) without a next batch in time.", ""]
    return lines


def _scale(scale: dict | None) -> list[str]:
    if not scale:
        return []
    lines = ["## Scale", "",
             "Choosing a batch is the engine's query (`offers.selectors.slot_candidates`, "
             "best first, first OFFER_BATCH_SIZE rows) for one slot of one of 20 providers, "
             "timed from the runner process. Entries added by set-based inserts; time to add "
             "them shown for reference.", "",
             "| active entries | of which fit the slot | choose a batch | chosen | rows added in |",
             "| --- | --- | --- | --- | --- |"]
    for size, data in scale["sizes"].items():
        fitting = f"{data['fitting']:,}" if "fitting" in data else "n/a"
        lines.append(f"| {int(size):,} | {fitting} | {_fmt(data['ms'], ' ms', 1)} | "
                     f"{data['chosen']} | {data['insert_s']:.1f} s |")
    pages = scale.get("pages")
    if pages:
        lines += ["", "Portal pages at 10,000 entries, signed in as front desk, through "
                  "gunicorn (client-measured on 127.0.0.1, so server time plus loopback; "
                  "3 series of 15 requests, p50 and p95 as median (min–max) over the series):",
                  "", "| page | p50 | p95 | max | size |", "| --- | --- | --- | --- | --- |"]
        for name, page in pages.items():
            lines.append(f"| {name} (`{page['path']}`) | {_fmt(page['p50_ms'], ' ms', 1)} | "
                         f"{_fmt(page['p95_ms'], ' ms', 1)} | {page['max_ms']:.1f} ms | "
                         f"{page['bytes'] / 1024:.0f} KiB |")
    for size, data in scale["sizes"].items():
        lines += ["", f"<details><summary>Query plan at {int(size):,} entries (EXPLAIN ANALYZE)"
                  "</summary>", "", "```", data["plan"], "```", "", "</details>"]
    return lines + [""]


def report_write(results: dict) -> None:
    # A smoke test's tiny counts must never replace the measured results.
    quick = results.get("machine", {}).get("quick")
    target = OUT_DIR / "RESULTS-quick.md" if quick else BENCH_DIR / "RESULTS.md"
    target.write_text(report_build(results))
    print(f"Results written to {target.relative_to(BENCH_DIR.parent)}")


if __name__ == "__main__":
    # `python -m bench.report` prints the summary table for the README's Performance section.
    import json

    from bench.lib import RESULTS_JSON

    for row in summary_rows(json.loads(RESULTS_JSON.read_text())):
        print("| " + " | ".join(row) + " |")
