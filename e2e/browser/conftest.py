"""Fixtures of the browser tier: one live server per session, one Chromium, a
fresh browser context per person per test, and pictures of every failure.

Debian's `chromium` (installed by `make test` with apt-get) runs headless with
a fake camera and microphone; Playwright cannot download browsers here.
Failures leave a screenshot and the HTML of every open page, and the server's
log, under e2e/artifacts/ (git-ignored; CI keeps the folder).
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from .server import ROOT, start_server
from .support import DEMO_PASSWORD, sign_in_quietly

CHROMIUM = os.environ.get("DIGIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
ARTIFACTS = ROOT / "e2e" / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Every wait has a ceiling: a slow, shared machine gets time, a hang still fails.
TIMEOUT_MS = 20_000


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture(scope="session")
def site_server(request):
    # Not named live_server: pytest-django gives any test using a fixture of
    # that name a transactional test database.
    server = start_server()
    yield server
    try:
        # The books must balance after everything the suite did.
        check = server.manage("ledger_check")
        assert check.returncode == 0, f"ledger_check failed after the browser suite:\n{check.stdout}\n{check.stderr}"
    finally:
        server.stop()
        log = server.log_text()
        if "Traceback" in log or request.session.testsfailed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "server.log").write_text(log)
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _artifact_dir(request) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:120]
    return ARTIFACTS / f"{request.node.module.__name__.rsplit('.', 1)[-1]}-{name}"


@pytest.fixture
def new_context(browser, site_server, request):
    """new_context(user=None, viewport=DESKTOP) -> a fresh browser context
    (its own cookies: one person), signed in as `user` if given."""
    contexts = []

    def make(user: str | None = None, *, viewport=DESKTOP, password: str = DEMO_PASSWORD, **options):
        context = browser.new_context(base_url=site_server.url, viewport=viewport, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        if user:
            sign_in_quietly(context, user, password)
        return context

    yield make
    if _failed(request):
        folder = _artifact_dir(request)
        folder.mkdir(parents=True, exist_ok=True)
        for c_index, context in enumerate(contexts):
            for p_index, page in enumerate(context.pages):
                stem = folder / f"context{c_index}-page{p_index}"
                try:
                    page.screenshot(path=f"{stem}.png", full_page=True)
                    Path(f"{stem}.html").write_text(f"<!-- {page.url} -->\n" + page.content())
                except Exception as exc:  # a crashed page still gets its note
                    Path(f"{stem}.txt").write_text(f"{page.url}: {exc}")
        (folder / "server-log-tail.txt").write_text(site_server.log_tail(200))
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    """A page in a fresh anonymous desktop context."""
    return new_context().new_page()
