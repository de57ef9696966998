"""`python manage.py simulate`: simulated clinic days through the real offer engine, in
virtual time, in databases of their own; prints the figures per policy (docs/simulator.md).
"""

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fillsim.config import (
    SCENARIOS,
    PatientModel,
    SimConfig,
    Workload,
    builtin_policies,
    policies_named,
)
from fillsim.parallel import run_policies
from fillsim.report import summary_table, write_report

DEFAULT_POLICIES = ["current", "seed", "nexhealth", "broadcast"]


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Simulate clinic days through the real offer engine and measure how slots fill."

    def add_arguments(self, parser):
        workload, patients = Workload(), PatientModel()
        parser.add_argument("--days", type=_positive, default=workload.days,
                            help="days of cancellations (default %(default)s)")
        parser.add_argument("--seed", type=int, default=workload.seed)
        parser.add_argument("--providers", type=_positive, default=workload.providers)
        parser.add_argument("--waitlist", type=_positive, default=workload.waitlist,
                            help="waitlisted patients (default %(default)s)")
        parser.add_argument("--cancellations-per-day", type=int, default=workload.cancellations_per_day)
        parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                            help="typical (default) or sick-day; give it twice for both")
        parser.add_argument("--reply-rate", type=_share, default=patients.reply_rate,
                            help="share of offer texts answered at all (default %(default)s)")
        parser.add_argument("--accept-rate", type=_share, default=patients.accept_rate,
                            help="share of replies that are a YES (default %(default)s)")
        parser.add_argument("--reply-median-minutes", type=float,
                            default=patients.reply_median_minutes,
                            help="median minutes to a quick reply (default %(default)s)")
        parser.add_argument("--voice-share", type=_share, default=workload.voice_share,
                            help="share of patients offered by phone call instead of text "
                                 "(default %(default)s)")
        parser.add_argument("--held-share", type=_share, default=workload.held_share,
                            help="share of current appointments the EHR named (chain fills "
                                 "free these)")
        parser.add_argument("--policy", action="append", choices=list(builtin_policies()),
                            help="repeatable; default: all four built-in policies")
        parser.add_argument("--batch-size", type=_positive, help="override every policy's batch size")
        parser.add_argument("--hold-minutes", type=float, help="override every policy's hold")
        parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
        parser.add_argument("--report", type=Path,
                            help="write a markdown report with charts (make simulate: bench/FILL.md)")
        parser.add_argument("--jobs", type=_positive, default=min(2, os.cpu_count() or 1),
                            help="policies simulated at once, one process each (default %(default)s)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, **options):
        if options["reply_median_minutes"] < 0:
            raise CommandError("--reply-median-minutes must be 0 or more.")
        if options["hold_minutes"] is not None and options["hold_minutes"] < 1:
            raise CommandError("--hold-minutes must be at least 1 (the engine's shortest hold).")
        if options["cancellations_per_day"] < 0:
            raise CommandError("--cancellations-per-day must be 0 or more.")
        try:
            policies = policies_named(options["policy"] or DEFAULT_POLICIES,
                                      batch_size=options["batch_size"],
                                      hold_minutes=options["hold_minutes"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        patients = replace(PatientModel(), reply_rate=options["reply_rate"],
                           accept_rate=options["accept_rate"],
                           reply_median_minutes=options["reply_median_minutes"])
        scenarios = list(dict.fromkeys(options["scenario"] or ["typical"]))
        runs = {}
        for scenario in scenarios:
            workload = Workload(days=options["days"], seed=options["seed"],
                                providers=options["providers"], waitlist=options["waitlist"],
                                cancellations_per_day=options["cancellations_per_day"],
                                voice_share=options["voice_share"],
                                held_share=options["held_share"], scenario=scenario)
            config = SimConfig(workload=workload, patients=patients)
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            results = run_policies(config, policies, jobs=options["jobs"],
                                   progress=not options["no_progress"])
            runs[scenario] = {"config": config, "policies": results,
                              "wall_seconds": round(time.perf_counter() - started, 1),
                              "load": (round(load_before, 2), round(os.getloadavg()[0], 2))}
            self.stdout.write(f"\n{scenario}: {workload.days} days, {workload.waitlist} waitlisted, "
                              f"{workload.providers} providers, {workload.cancellations_per_day} "
                              f"cancellations a day, seed {workload.seed} "
                              f"({runs[scenario]['wall_seconds']} s)\n")
            self.stdout.write(summary_table(results) + "\n")

        if options["json"]:
            options["json"].parent.mkdir(parents=True, exist_ok=True)
            options["json"].write_text(json.dumps(as_json(runs, options), indent=2) + "\n")
        if options["report"]:
            write_report(runs, options["report"], command=_command_line(options))
            self.stdout.write(f"Report written to {options['report']}\n")


def as_json(runs: dict, options: dict) -> dict:
    """{"policies": {...}} of the first scenario, and every scenario under "scenarios"."""
    first = next(iter(runs.values()))
    flags = {key: options[key] for key in (
        "days", "seed", "providers", "waitlist", "cancellations_per_day", "reply_rate",
        "accept_rate", "reply_median_minutes", "batch_size", "hold_minutes", "voice_share")}
    return {
        "flags": flags,
        "scenario": next(iter(runs)),
        "policies": first["policies"],
        "scenarios": {name: {"policies": run["policies"], "wall_seconds": run["wall_seconds"]}
                      for name, run in runs.items()},
    }


def _command_line(options: dict) -> str:
    parts = ["python manage.py simulate"]
    for flag in ("days", "seed", "providers", "waitlist", "cancellations_per_day",
                 "reply_rate", "accept_rate", "reply_median_minutes", "batch_size", "hold_minutes",
                 "voice_share"):
        if flag == "voice_share" and not options.get(flag):
            continue
        if options.get(flag) is not None:
            parts.append(f"--{flag.replace('_', '-')} {options[flag]}")
    for scenario in options.get("scenario") or ["typical"]:
        parts.append(f"--scenario {scenario}")
    return " ".join(parts)
