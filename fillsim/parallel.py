"""The policies side by side: each in a process of its own (spawned, so each sets up
Django on its own database file), at most `jobs` at a time, with one progress bar on
stderr for all of them."""

import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from django.conf import settings

from fillsim.config import SimConfig
from fillsim.database import run_database, template_ensure
from offers.policy import OfferPolicy


class SimulationFailed(RuntimeError):
    pass


def _worker(config: SimConfig, policy: OfferPolicy, db_path: str, queue) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["SMS_BACKEND"] = "console"
    os.environ["SMS_SEND_HOURS"] = config.sms_send_hours
    os.environ["LOG_LEVEL"] = "warning"
    os.environ.pop("REDIS_URL", None)  # no broker, no shared cache: the run is self-contained
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    try:
        import django

        django.setup()
        from fillsim.run import run_policy

        result = run_policy(config, policy,
                            progress=lambda fraction: queue.put(("progress", policy.name, fraction)))
        queue.put(("done", policy.name, result))
    except BaseException:
        queue.put(("error", policy.name, traceback.format_exc()))


class ProgressBar:
    WIDTH = 24

    def __init__(self, names: list[str], stream=None):
        self.done = dict.fromkeys(names, 0.0)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = -1

    def update(self, name: str, fraction: float) -> None:
        self.done[name] = fraction
        overall = sum(self.done.values()) / len(self.done)
        if self.tty:
            filled = int(overall * self.WIDTH)
            parts = " ".join(f"{n} {int(f * 100):3d}%" for n, f in self.done.items())
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {parts} ")
            self.stream.flush()
        elif int(overall * 10) > self.shown:  # a log file gets a line every 10 %
            self.shown = int(overall * 10)
            self.stream.write(f"simulate: {self.shown * 10}% "
                              + " ".join(f"{n} {int(f * 100)}%" for n, f in self.done.items())
                              + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_policies(config: SimConfig, policies: list[OfferPolicy], *, jobs: int = 2,
                 progress: bool = True) -> dict[str, dict]:
    """Every policy over the same workload; {policy name: figures}, in the given order."""
    template_ensure()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    bar = ProgressBar([p.name for p in policies]) if progress else None
    results: dict[str, dict] = {}
    waiting = list(policies)
    running: dict[str, multiprocessing.Process] = {}
    (Path(settings.VAR_DIR) / "fillsim").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(settings.VAR_DIR) / "fillsim") as work:
        try:
            while waiting or running:
                while waiting and len(running) < max(jobs, 1):
                    policy = waiting.pop(0)
                    db = run_database(Path(work), policy.name)
                    process = context.Process(target=_worker, args=(config, policy, str(db), queue),
                                              name=f"fillsim-{policy.name}")
                    process.start()
                    running[policy.name] = process
                kind, name, payload = _next_message(queue, running)
                if kind == "progress":
                    if bar:
                        bar.update(name, payload)
                elif kind == "done":
                    results[name] = payload
                    running.pop(name).join()
                else:
                    raise SimulationFailed(f"policy {name} failed:\n{payload}")
        finally:
            for process in running.values():
                process.terminate()  # only the processes this run started
                process.join()
            if bar:
                bar.close()
    return {p.name: results[p.name] for p in policies}


def _next_message(queue, running):
    while True:
        try:
            return queue.get(timeout=1.0)
        except Exception:  # queue.Empty: is everyone still alive?
            for name, process in running.items():
                if not process.is_alive() and queue.empty():
                    time.sleep(0.2)
                    if queue.empty():
                        raise SimulationFailed(
                            f"policy {name}: its process ended (exit code {process.exitcode}) "
                            "without a result") from None
