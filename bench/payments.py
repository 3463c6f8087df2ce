"""Payments benchmark: webhook processing latency, receive -> tokens credited.

    .venv/bin/python bench/payments.py [--concurrency 20] [--rounds 5]

Starts its own throwaway PostgreSQL (normal durability: fsync and
synchronous_commit on) and localstripe on loopback, migrates, then per round:
pays `--concurrency` purchases for real at localstripe (distinct fans), and
delivers their signed `payment_intent.succeeded` events all at once, one
thread each, through Django's full request stack (middleware, signature check,
event record, ledger credit, purchase update). A delivery's latency runs from
the request entering Django to the response, i.e. to the tokens being credited
and committed. A second scenario delivers ONE event `--concurrency` times at
once (Stripe's duplicates): one credit, the rest are answered without work.

Prints p50/p95/max for both; the target is p95 < 100 ms.
"""

import argparse
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self):
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
        bindirs = [p for p in candidates if (p / "initdb").exists()]
        if not bindirs:
            sys.exit("PostgreSQL binaries not found (install postgresql)")
        self.bindir = str(bindirs[0])
        self.workdir = tempfile.mkdtemp(prefix="digis-bench-payments-")
        os.chmod(self.workdir, 0o755)
        self.data = os.path.join(self.workdir, "pg")
        self.port = free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    def start(self):
        os.mkdir(self.data)
        if self.as_pg:
            shutil.chown(self.data, "postgres")
        run = lambda *args: subprocess.run([*self.as_pg, *args], check=True, stdout=subprocess.DEVNULL)  # noqa: E731
        run(f"{self.bindir}/initdb", "-D", self.data, "-U", "digis", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c max_connections=200"
        run(f"{self.bindir}/pg_ctl", "-D", self.data, "-l", f"{self.data}/server.log", "-w", "start", "-o", options)
        subprocess.run([f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digis", "digis"], check=True)

    def stop(self):
        subprocess.run([*self.as_pg, f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.workdir, ignore_errors=True)


def sign(payload: bytes, secret: str) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def deliver_all(payloads, secret):
    """POST every payload at once, one thread each; returns (latency_ms, status) per delivery."""
    from django.db import connections
    from django.test import Client

    barrier = threading.Barrier(len(payloads))
    results = [None] * len(payloads)

    def work(i, payload):
        client = Client()
        header = sign(payload, secret)
        barrier.wait()
        start = time.perf_counter()
        response = client.post("/api/payments/stripe/webhook/", data=payload, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)
        results[i] = ((time.perf_counter() - start) * 1000, response.status_code)
        connections.close_all()

    threads = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    pg = Postgres()
    pg.start()
    stripe_port = free_port()
    localstripe = subprocess.Popen([sys.executable, "-m", "payments.localstripe_server", "--port", str(stripe_port)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secret = "whsec_bench_" + secrets.token_hex(16)
    try:
        os.environ.update({
            "DATABASE_URL": f"postgres://digis@127.0.0.1:{pg.port}/digis",
            "DB_POOL_MAX_SIZE": str(args.concurrency + 10),
            "STRIPE_API_HOST": f"http://127.0.0.1:{stripe_port}",
            "STRIPE_WEBHOOK_SECRET": secret,
            "RATELIMIT_ENABLE": "false",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_hex(40),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "digis.settings",
        })
        subprocess.run([sys.executable, "-m", "payments.localstripe_server", "--port", str(stripe_port), "--wait"], check=True, cwd=ROOT)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

        import stripe

        from accounts.tests.factories import make_user
        from ledger.services import balance_of
        from payments import services
        from payments.models import TokenPackage

        package = TokenPackage.objects.order_by("price_cents").first()

        def paid_events(n, tag):
            events = []
            for i in range(n):
                user = make_user(f"bench{tag}x{i}")
                purchase = services.start_purchase(user=user, package_id=package.pk)
                services.confirm_purchase(user=user, purchase_id=purchase.pk, payment_method="pm_card_visa")
                intent = stripe.PaymentIntent.retrieve(purchase.payment_intent_id).to_dict()
                event = {"id": f"evt_bench_{tag}_{i}", "object": "event", "type": "payment_intent.succeeded",
                         "livemode": False, "created": int(time.time()), "api_version": "2017-08-15",
                         "data": {"object": intent}}
                events.append((user, json.dumps(event).encode()))
            return events

        # Warm-up (not measured): opens the pool's connections, loads code paths.
        deliver_all([payload for _, payload in paid_events(args.concurrency, "warm")], secret)

        distinct, duplicate = [], []
        for round_no in range(args.rounds):
            events = paid_events(args.concurrency, f"d{round_no}")
            results = deliver_all([payload for _, payload in events], secret)
            assert all(status == 200 for _, status in results), results
            assert all(balance_of(user=user) == package.total_tokens for user, _ in events)
            distinct += [ms for ms, _ in results]

            (user, payload), = paid_events(1, f"s{round_no}")
            results = deliver_all([payload] * args.concurrency, secret)
            assert balance_of(user=user) == package.total_tokens, "credited more than once"
            duplicate += [ms for ms, _ in results]

        def line(name, values):
            return (f"{name}: n={len(values)} p50={percentile(values, 50):.1f} ms "
                    f"p95={percentile(values, 95):.1f} ms max={max(values):.1f} ms")

        print(f"concurrency {args.concurrency}, {args.rounds} rounds, PostgreSQL {pg.bindir.split('/')[-2]}, "
              f"{os.cpu_count()} CPUs")
        print(line("distinct events (20 purchases credited at once)", distinct))
        print(line("one event delivered 20 times at once (credited once)", duplicate))
    finally:
        localstripe.terminate()
        localstripe.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        pg.stop()


if __name__ == "__main__":
    main()
