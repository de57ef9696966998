"""Virtual time: an agenda of what is due when, and a clock that jumps to it.

The engine reads the time through Django's `timezone.now()` (and `datetime.now()`);
time-machine moves both, so the engine and the database see the virtual instant. Celery
tasks are not sent to a broker: `apply_async` (and so `delay`, `delay_on_commit`)
puts the task on the agenda at its due time (now, `countdown` seconds later, or its
`eta`), and it runs in-process when the clock gets there. Jobs due at the same instant
run in the order they were scheduled.
"""

import contextlib
import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import time_machine
from celery.app.task import Task


@dataclass(order=True)
class Job:
    due: dt.datetime
    order: int
    run: Callable[[], object] = field(compare=False)
    kind: str = field(compare=False, default="task")


class Agenda:
    def __init__(self, start: dt.datetime):
        self.now = start
        self._jobs: list[Job] = []
        self._order = itertools.count()
        self.ran: dict[str, int] = {}

    def at(self, due: dt.datetime, run: Callable[[], object], *, kind: str = "task") -> None:
        heapq.heappush(self._jobs, Job(max(due, self.now), next(self._order), run, kind))

    def after(self, seconds: float, run: Callable[[], object], *, kind: str = "task") -> None:
        self.at(self.now + dt.timedelta(seconds=seconds), run, kind=kind)

    def next_due(self) -> dt.datetime | None:
        return self._jobs[0].due if self._jobs else None

    def pop(self) -> Job:
        job = heapq.heappop(self._jobs)
        self.ran[job.kind] = self.ran.get(job.kind, 0) + 1
        return job

    def __len__(self) -> int:
        return len(self._jobs)


@contextlib.contextmanager
def virtual_time(agenda: Agenda) -> Iterator[Callable[[dt.datetime], None]]:
    """Inside: the clock stands still at `agenda.now` until moved with the function
    yielded, and every Celery task queued goes on the agenda."""

    def apply_async(task, args=None, kwargs=None, *, countdown=None, eta=None, **options):
        due = agenda.now
        if eta is not None:
            due = eta if eta.tzinfo else eta.replace(tzinfo=dt.UTC)
        elif countdown:
            due = agenda.now + dt.timedelta(seconds=countdown)
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        agenda.at(due, lambda: task(*args, **kwargs), kind=task.name.rsplit(".", 1)[-1])

    original = Task.apply_async
    Task.apply_async = apply_async
    try:
        with time_machine.travel(agenda.now, tick=False) as traveller:
            def move_to(when: dt.datetime) -> None:
                if when != agenda.now:
                    agenda.now = when
                    traveller.move_to(when)
            yield move_to
    finally:
        Task.apply_async = original
