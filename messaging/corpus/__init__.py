"""The replies corpus (replies.csv) and how the classifier does on it.

    python -m messaging.corpus          # `make corpus`: agreement, false YES, confusion tables

Each row is a reply to an offer texted to "Ana" (see docs/replies.md): text, language (en,
es, other for languages the clinic does not text in, none for bodies without words),
the intent a careful person reads in it, and a note. Plain Python, no Django: the
classifier needs none.
"""

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from messaging.intents import Intent, understand

CORPUS = Path(__file__).with_name("replies.csv")
# The name the corpus' offers were texted to: "I'm not Ana" is a wrong number.
OFFER_NAME = "Ana"
LANGUAGES = ("en", "es", "other", "none")


@dataclass(frozen=True)
class Row:
    text: str
    language: str
    intent: Intent
    note: str = ""
    line: int = 0


@dataclass
class Evaluation:
    rows: int = 0
    agreed: int = 0
    # (language, expected, got) -> count
    confusion: Counter = field(default_factory=Counter)
    misses: list[tuple[Row, Intent]] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agreed / self.rows if self.rows else 0.0

    @property
    def false_yes(self) -> list[tuple[Row, Intent]]:
        """Rows read as YES that mean anything else: the one error that books a patient."""
        return [(row, got) for row, got in self.misses if got == Intent.YES]


def corpus_rows(path: Path = CORPUS) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [Row(text=record["text"], language=record["language"],
                    intent=Intent(record["intent"]), note=record["note"], line=number)
                for number, record in enumerate(csv.DictReader(handle), start=2)]


def corpus_evaluate(rows: list[Row]) -> Evaluation:
    result = Evaluation()
    for row in rows:
        got = understand(row.text, first_name=OFFER_NAME)
        result.rows += 1
        result.confusion[(row.language, row.intent, got)] += 1
        if got == row.intent:
            result.agreed += 1
        else:
            result.misses.append((row, got))
    return result


def confusion_table(result: Evaluation, *, language: str | None = None) -> str:
    """Rows: the intent a person reads; columns: what the classifier read."""
    cells = Counter()
    for (lang, expected, got), count in result.confusion.items():
        if language is None or lang == language:
            cells[(expected, got)] += count
    intents = [i for i in Intent if any(i in key for key in cells)]
    if not intents:
        return "(no rows)"
    short = {intent: intent.value[:8] for intent in intents}
    width = max(len(i.value) for i in intents)
    lines = [" " * width + " | " + " ".join(f"{short[i]:>8}" for i in intents)
             + " |    rows  agree"]
    for expected in intents:
        counts = [cells[(expected, got)] for got in intents]
        total = sum(counts)
        if not total:
            continue
        agree = cells[(expected, expected)] / total
        lines.append(f"{expected.value:<{width}} | "
                     + " ".join(f"{c or '.':>8}" for c in counts)
                     + f" | {total:>7} {agree:>6.1%}")
    return "\n".join(lines)


def report(result: Evaluation) -> str:
    by_language = Counter(lang for (lang, _, _), n in result.confusion.items()
                          for _ in range(n))
    parts = [f"{result.rows} replies, {result.agreed} read as labelled: "
             f"{result.agreement:.2%} agreement; false YES: {len(result.false_yes)}", ""]
    for language in LANGUAGES:
        if by_language[language]:
            parts += [f"== {language} ({by_language[language]} replies)",
                      confusion_table(result, language=language), ""]
    parts += ["== all languages", confusion_table(result), ""]
    if result.misses:
        parts.append("Read otherwise than labelled (line: text -> read as, labelled):")
        parts += [f"  {row.line}: {row.text[:70]!r} -> {got}, labelled {row.intent}"
                  for row, got in result.misses]
    return "\n".join(parts)
