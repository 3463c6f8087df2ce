"""Helpers for tests that need real concurrency (race tests on PostgreSQL)."""

import threading
from collections.abc import Callable

from django.db import connections


def run_concurrently(funcs: list[Callable], *, timeout: float = 60.0) -> list:
    """Run each function in its own thread, all released at the same instant.

    Returns each function's result, or the exception it raised, in order.
    Every thread closes its database connections, so the test database can
    be dropped afterwards. Use from `django_db(transaction=True)` tests.
    """
    barrier = threading.Barrier(len(funcs))
    results: list = [None] * len(funcs)

    def run(index: int, func: Callable) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = func()
        except BaseException as exc:  # reported to the test, not swallowed
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, f), daemon=True) for i, f in enumerate(funcs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("a concurrent worker did not finish in time (deadlock?)")
    return results
