"""The figures as a table (stdout) and as bench/FILL.md with its charts (PNG, drawn with
matplotlib's Agg backend, in bench/fill/ beside the report)."""

import datetime as dt
import os
import platform
from pathlib import Path

from fillsim.metrics import LEAD_BUCKETS

COLUMNS = (
    ("slots", "slots", "{}"),
    ("filled", "filled", "{}"),
    ("fill_rate", "fill rate", "{:.0%}"),
    ("median_minutes_to_fill", "median min", "{:.1f}"),
    ("p90_minutes_to_fill", "p90 min", "{:.1f}"),
    ("texts_per_fill", "texts/fill", "{:.1f}"),
    ("offers_per_fill", "offers/fill", "{:.1f}"),
    ("max_texts_patient_day", "max texts/day", "{}"),
    ("max_texts_patient_week", "max texts/week", "{}"),
    # Offer texts alone: what the fatigue caps (OFFER_TEXTS_PER_DAY, _PER_WEEK) count.
    ("max_offer_texts_patient_week", "max offers/week", "{}"),
    ("median_days_sooner", "days sooner", "{:.1f}"),
    ("chain_fills", "chain fills", "{}"),
    ("double_bookings", "double bookings", "{}"),
    ("unanswered_yes", "unanswered YES", "{}"),
)


def cell(value, template: str) -> str:
    return "–" if value is None else template.format(value)


def summary_table(results: dict[str, dict]) -> str:
    # Fills by channel only when some patients were called (--voice-share).
    voice = any(figures.get("calls") for figures in results.values())
    columns = (*COLUMNS, *CHANNEL_COLUMNS) if voice else COLUMNS
    header = "| policy | " + " | ".join(label for _, label, _ in columns) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in columns) + " |"
    rows = [f"| {name} | " + " | ".join(cell(_figure(figures, key), template)
                                        for key, _, template in columns) + " |"
            for name, figures in results.items()]
    return "\n".join([header, rule, *rows])


CHANNEL_COLUMNS = (
    ("calls", "offer calls", "{}"),
    ("fills_by_channel.sms", "filled by text", "{}"),
    ("fills_by_channel.voice", "filled by call", "{}"),
)


# (key, what the run measured, format, the published figure it compares with). The
# patients' behaviour is read as drawn, per offer text ("patients." keys: the message
# log links a reply to the patient's newest offer, so it cannot tell); what the product
# made of it, from the database.
CALIBRATION = (
    ("patients.first_texts_answered", "patients who answered their first offer text", "{:.0%}",
     "about a third of texted patients reply (assumption, issue 15)"),
    ("patients.texts_answered", "offer texts answered, all of them", "{:.0%}",
     "– (lower: later texts go more to those who never reply)"),
    ("patients.median_reply_minutes", "median minutes to a reply", "{:.1f}",
     "single digits (assumption)"),
    ("patients.replies_within_hour", "replies within the hour", "{:.0%}", "about 60 % (assumption)"),
    ("patients.yes_share_of_replies", "replies that are a YES", "{:.0%}",
     "0.33 (11 % accepted / a third replying)"),
    ("patients.texts_answered_yes", "offer texts answered YES (booked or not)", "{:.1%}",
     "about 11 % of offers accepted (Fast Pass, 2.8 offers a slot, one round)"),
    ("offers_accepted", "offers that booked their slot", "{:.1%}",
     "11 % at 2.8 offers a slot (Fast Pass); falls as offers per slot rise"),
    ("offers_per_fill", "offers per filled slot", "{:.1f}", "9.2 (60,660 offers / 6,603 accepted)"),
    ("offered_slots_filled_by_first_3", "offered slots booked by one of their first 3 offers",
     "{:.0%}", "about 30 % of offered slots filled (Fast Pass, 2.8 offers a slot)"),
    ("fill_rate_of_offered", "offered slots filled, offered until nobody fits", "{:.0%}",
     "– (Fast Pass: one round)"),
)


def _figure(figures: dict, key: str):
    for part in key.split("."):
        figures = (figures or {}).get(part)
    return figures


def calibration_table(results: dict[str, dict]) -> str:
    header = "| measured in the run | " + " | ".join(results) + " | published |"
    rule = "| --- | " + " | ".join("---:" for _ in results) + " | --- |"
    rows = [f"| {label} | " + " | ".join(cell(_figure(figures, key), template)
                                        for figures in results.values()) + f" | {source} |"
            for key, label, template, source in CALIBRATION]
    return "\n".join([header, rule, *rows])


def lead_table(results: dict[str, dict], *, key: str = "fill_rate_by_lead",
               template: str = "{:.0%}") -> str:
    names = [name for name, _ in LEAD_BUCKETS]
    first = next(iter(results.values()))
    header = "| policy | " + " | ".join(
        f"{name} ({first['slots_by_lead'][name]} slots)" for name in names) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in names) + " |"
    rows = [f"| {policy} | " + " | ".join(cell(figures.get(key, {}).get(name), template)
                                         for name in names) + " |"
            for policy, figures in results.items()]
    return "\n".join([header, rule, *rows])


def _charts(results: dict[str, dict], directory: Path, scenario: str) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(figure, path: Path) -> Path:
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)
        return path

    directory.mkdir(parents=True, exist_ok=True)
    names = [name for name, _ in LEAD_BUCKETS]
    drawn = []

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    width = 0.8 / max(len(results), 1)
    for i, (policy, figures) in enumerate(results.items()):
        values = [figures["fill_rate_by_lead"][name] or 0 for name in names]
        axes.bar([x + i * width for x in range(len(names))], [v * 100 for v in values],
                 width, label=policy)
    axes.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(names))],
                    [f"{name}\n({next(iter(results.values()))['slots_by_lead'][name]} slots)"
                     for name in names])
    axes.set_ylabel("slots filled (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"Fill rate by lead time ({scenario})")
    axes.legend(fontsize="small")
    drawn.append(("Fill rate by lead time", save(figure, directory / f"fill-by-lead-{scenario}.png")))

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    for policy, figures in results.items():
        minutes = sorted(max(m, 0.1) for m in figures["minutes_to_fill"])
        if not minutes:
            continue
        shares = [(i + 1) / figures["slots"] * 100 for i in range(len(minutes))]
        axes.step(minutes, shares, where="post", label=policy)
    axes.set_xscale("log")
    axes.set_xlabel("minutes from the cancellation to the booking (log scale)")
    axes.set_ylabel("slots filled by then (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"Time to fill ({scenario})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    drawn.append(("Time to fill", save(figure, directory / f"time-to-fill-{scenario}.png")))
    return drawn


def _machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
            f"Python {platform.python_version()}, load average at the end {load} (1, 5, 15 min)")


def write_report(runs: dict, path: Path, *, command: str) -> None:
    """Markdown: per scenario the figures, fill rate by lead time, the calibration
    figures beside the published ones, and the two charts."""
    path = Path(path)
    charts_dir = path.parent / "fill"
    lines = [
        "# Fill simulator: the latest run",
        "",
        f"Written by `make simulate` ({command}) on {dt.date.today().isoformat()}; "
        "how the simulator works, its defaults and their sources, and how to read this: "
        "[docs/simulator.md](../docs/simulator.md).",
        "",
        f"Machine: {_machine()}.",
        "",
    ]
    for scenario, run in runs.items():
        results, workload = run["policies"], run["config"].workload
        lines += [
            f"## Scenario: {scenario}",
            "",
            f"{workload.days} days, {workload.waitlist} waitlisted patients, "
            f"{workload.providers} providers, {workload.cancellations_per_day} cancellations a "
            f"day, seed {workload.seed}"
            + (", and one provider's whole day freed at 07:30 on day 2" if scenario == "sick-day"
               else "")
            + f". {len(results)} policies simulated in {run['wall_seconds']} s (wall clock; "
            f"1-minute load average {run['load'][0]} at the start, {run['load'][1]} at the end).",
            "",
            summary_table(results),
            "",
            "Minutes are from the cancellation being recorded to the booking; texts are every "
            "SMS sent (offers, confirmations, 'slot taken' notes, answers to replies).",
            "",
            "**Fill rate by lead time** (how far ahead the slot was when it was freed):",
            "",
            lead_table(results),
            "",
            "**Texts per filled slot by lead time** (a slot's own offer texts and what "
            "they led to, over the slots of that band that filled):",
            "",
            lead_table(results, key="texts_per_fill_by_lead", template="{:.1f}"),
            "",
            "**Patients' behaviour, as the database recorded it**, against the published "
            "figures the defaults are calibrated to:",
            "",
            calibration_table(results),
            "",
        ]
        for title, image in _charts(results, charts_dir, scenario):
            lines += [f"![{title} ({scenario})]({image.relative_to(path.parent).as_posix()})", ""]
    path.write_text("\n".join(lines))
