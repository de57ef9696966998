"""Time the reply classifier (messaging.intents.understand) over the whole corpus.

    .venv/bin/python bench/bench_replies.py            # prints, and writes bench/REPLIES.md
    .venv/bin/python bench/bench_replies.py --repeat 50 --no-write

No database: understanding a reply is plain Python, and it runs inside the inbound
webhook's transaction, so it must stay a small part of the webhook's time (target: under
0.2 ms a reply, mean over the corpus). Three figures: the first pass in a fresh process
(word caches empty: every word is looked up, typos corrected by edit distance), warm
passes (the caches full, as in a long-running worker), and the slowest single reply.
"""

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messaging import intents  # noqa: E402
from messaging.corpus import OFFER_NAME, corpus_rows  # noqa: E402

TARGET_MS = 0.2
RESULTS = ROOT / "bench" / "REPLIES.md"


def timed_pass(texts: list[str]) -> list[float]:
    """Milliseconds per reply, one pass."""
    understand = intents.understand
    clock = time.perf_counter
    times = []
    for text in texts:
        start = clock()
        understand(text, first_name=OFFER_NAME)
        times.append((clock() - start) * 1000)
    return times


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="warm passes (default 20)")
    parser.add_argument("--no-write", action="store_true", help="do not write REPLIES.md")
    args = parser.parse_args()

    texts = [row.text for row in corpus_rows()]
    cold = timed_pass(texts)
    warm_means, warm_all = [], []
    for _ in range(args.repeat):
        times = timed_pass(texts)
        warm_means.append(statistics.fmean(times))
        warm_all.extend(times)
    warm_all.sort()
    p99 = warm_all[int(len(warm_all) * 0.99)]
    cold_mean = statistics.fmean(cold)
    warm = statistics.median(warm_means)
    verdict = "met" if max(cold_mean, warm) < TARGET_MS else "MISSED"
    lines = [
        "# Reply classifier speed (bench/bench_replies.py)", "",
        f"{len(texts)} replies of messaging/corpus/replies.csv; Python "
        f"{platform.python_version()} on {cpu_name()}.", "",
        "| figure | ms per reply |", "| --- | --- |",
        f"| first pass, caches empty (mean) | {cold_mean:.4f} |",
        f"| warm passes (median of {args.repeat} means, spread "
        f"{min(warm_means):.4f}–{max(warm_means):.4f}) | {warm:.4f} |",
        f"| warm, 99th percentile of single replies | {p99:.4f} |",
        f"| first reply of the process | {cold[0]:.4f} |",
        f"| target: mean under | {TARGET_MS} ({verdict}) |", "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
