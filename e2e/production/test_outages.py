"""Backing services go away under light load; the site bends and comes back by itself.

Each test drives a steady trickle of page and API reads (anonymous and
signed-in, over both web processes) while it stops Redis, freezes it, or
restarts PostgreSQL, and records every response. What each outage may cost is
written in docs/operations.md ("When Redis is away", "PostgreSQL restarts");
these tests hold the deployment to it and print the figures.
"""

import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from e2e.clients import ProxyClient

# What the trickle asks for: pages and API reads that need only PostgreSQL.
READS = ["/", "/explore/", "/@luna", "/api/creators/", "/api/categories/", "/wallet/", "/api/wallet/"]


@dataclass
class Trickle:
    """Light load: a few clients, each from its own address, each asking for one of READS
    about four times a second (under the global 300 a minute per address, so every
    answer other than 2xx/3xx is the outage's doing)."""

    deployment: object
    clients: int = 4
    results: list = field(default_factory=list)  # (started, seconds, status, path)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, index: int) -> None:
        client = ProxyClient(
            self.deployment.url(web=index % len(self.deployment.web_processes)), timeout=15, client_ip=f"198.18.0.{index + 1}"
        )
        client.sign_in("alice", "digis-demo-pass") if index % 2 else None
        i = 0
        while not self.stop.is_set():
            path = READS[(index + i) % len(READS)]
            if index % 2 == 0 and path.endswith("wallet/"):
                path = "/explore/"
            started = time.monotonic()
            try:
                status = client.get(path).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            self.results.append((started, time.monotonic() - started, status, path))
            i += 1
            time.sleep(0.25)
        client.close()

    def __enter__(self):
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.clients)]
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def between(self, start: float, end: float) -> list:
        return [r for r in self.results if start <= r[0] <= end]

    def summary(self, start: float, end: float) -> dict:
        window = self.between(start, end)
        statuses = [r[2] for r in window]
        return {
            "requests": len(window),
            "non_2xx_3xx": sum(1 for s in statuses if not (isinstance(s, int) and s < 400)),
            "5xx": sum(1 for s in statuses if isinstance(s, int) and s >= 500),
            "503": statuses.count(503),
            "errors": sum(1 for s in statuses if not isinstance(s, int)),
            "slowest_s": round(max((r[1] for r in window), default=0.0), 2),
        }


def _assert_all_alive(deployment) -> None:
    dead = [p for p in deployment.processes if not p.alive()]
    assert not dead, "\n\n".join(f"{p.name} exited with {p.popen.returncode}:\n{p.tail(80)}" for p in dead)


def _wait_ready(deployment, seconds: float = 60.0) -> float:
    return deployment.wait_ready(seconds=seconds)


def test_redis_stopped_pages_and_reads_still_answer_and_it_recovers(deployment):
    pids = {p.name + str(i): p.popen.pid for i, p in enumerate(deployment.processes)}
    with Trickle(deployment) as trickle:
        stopped = time.monotonic()
        deployment.redis.stop()
        time.sleep(8)
        readyz = httpx.get(deployment.url("/readyz"), headers={"X-Forwarded-Proto": "https"}, timeout=10)
        outage = trickle.summary(stopped, time.monotonic())
        deployment.redis.start()
        restarted = time.monotonic()
        recovery_s = _wait_ready(deployment)
        time.sleep(2)
        after = trickle.summary(restarted + recovery_s, time.monotonic())
    print(f"\nRedis stopped 8 s: {outage}; readyz during: {readyz.status_code}; ready again after {recovery_s:.1f} s; after: {after}")
    assert readyz.status_code == 503 and "cache" in readyz.json()["failed"]
    assert outage["requests"] > 20
    assert outage["non_2xx_3xx"] == 0, outage
    assert after["non_2xx_3xx"] == 0, after
    assert recovery_s < 15
    assert {p.name + str(i): p.popen.pid for i, p in enumerate(deployment.processes)} == pids
    _assert_all_alive(deployment)


def test_redis_frozen_requests_do_not_hang(deployment):
    with Trickle(deployment) as trickle:
        frozen = time.monotonic()
        deployment.redis.freeze()
        try:
            time.sleep(6)
        finally:
            deployment.redis.thaw()
        thawed = time.monotonic()
        outage = trickle.summary(frozen, thawed)
        recovery_s = _wait_ready(deployment)
    print(f"\nRedis frozen 6 s: {outage}; ready again after {recovery_s:.1f} s")
    assert outage["non_2xx_3xx"] == 0, outage
    # One request per process waits out the cache's timeout (1 s) before it
    # notices; nothing waits for the old 2 s + 500.
    assert outage["slowest_s"] < 3.5, outage
    _assert_all_alive(deployment)


def test_postgres_restart_costs_seconds_not_errors(deployment):
    with Trickle(deployment) as trickle:
        restarting = time.monotonic()
        away_s = deployment.postgres.restart()
        back = time.monotonic()
        recovery_s = _wait_ready(deployment)
        time.sleep(3)
        window = trickle.summary(restarting, back + recovery_s)
        after = trickle.summary(back + recovery_s + 1, time.monotonic())
    print(f"\nPostgreSQL away {away_s:.2f} s: {window}; ready again {recovery_s:.1f} s after it was back; after: {after}")
    # Requests caught by the restart get 503 + Retry-After (documented), never a 500.
    assert window["non_2xx_3xx"] == window["503"], window
    assert window["slowest_s"] < 6, window
    assert after["non_2xx_3xx"] == 0, after
    assert recovery_s < 10
    _assert_all_alive(deployment)
