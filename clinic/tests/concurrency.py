"""Real concurrency for race tests: each call in its own thread and database connection,
all released at the same instant."""

import threading

from django.db import connection


def run_together(calls, *, timeout: float = 120) -> list:
    """Run each callable in its own thread, released together; return their results in
    order. An exception in any thread fails the test instead of vanishing with it."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def worker(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
    return results
