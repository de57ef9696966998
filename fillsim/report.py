"""The figures as a table (stdout) and as bench/FILL.md with its charts."""

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
    ("median_days_sooner", "days sooner", "{:.1f}"),
    ("double_bookings", "double bookings", "{}"),
    ("unanswered_yes", "unanswered YES", "{}"),
)


def cell(value, template: str) -> str:
    return "–" if value is None else template.format(value)


def summary_table(results: dict[str, dict]) -> str:
    header = "| policy | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |"
    rows = [f"| {name} | " + " | ".join(cell(figures[key], template)
                                        for key, _, template in COLUMNS) + " |"
            for name, figures in results.items()]
    return "\n".join([header, rule, *rows])


def write_report(runs, path, *, command: str) -> None:
    raise NotImplementedError
