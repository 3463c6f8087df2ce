"""The production tier: Digis started from its Procfile, driven black-box.

One deployment per session (PostgreSQL, Redis, localstripe, collectstatic,
``release``, two ``web``, ``worker``, ``beat``, DEBUG=false). Tests that
break a backing service (stop Redis, restart PostgreSQL) put it back and wait
for /readyz before they return, so the next test finds the site whole.
"""

import itertools
import shutil

import pytest

from e2e.clients import ProxyClient
from e2e.servers import Deployment

DEMO_PASSWORD = "digis-demo-pass"
# Each person the tests play comes from an address of their own, as people do:
# sharing one would put every test's crawl under one per-address limit.
_addresses = (f"198.51.100.{n % 250 + 1}" for n in itertools.count())


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/production/" in str(item.fspath):
            item.add_marker(pytest.mark.production)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def deployment():
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server and PostgreSQL binaries: run `make test`")
    deployment = Deployment(webs=2)
    try:
        deployment.start()
    except Exception:
        deployment.stop()
        raise
    yield deployment
    print(f"\nproduction tier start-up (s): {deployment.timings}")
    deployment.stop()


@pytest.fixture
def visitor(deployment):
    client = ProxyClient(deployment.url(), client_ip=next(_addresses))
    yield client
    client.close()


@pytest.fixture
def signed_in(deployment):
    """signed_in("alice") -> a ProxyClient with alice's session."""
    clients = []

    def build(username, *, web=0):
        client = ProxyClient(deployment.url(web=web), client_ip=next(_addresses))
        client.sign_in(username, DEMO_PASSWORD)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
