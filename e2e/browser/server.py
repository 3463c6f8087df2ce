"""The server the browser suite drives: `make run`'s embedded default, as a real process.

`scripts/serve.sh` (what `make run` runs after installing) is started in its own
process group on free loopback ports, with a fresh temporary SQLite file and
media folder, the in-memory channel layer, in-process jobs and beat
(DIGIS_EMBEDDED_BEAT=1), localstripe with its webhook registered, and the demo
data. The test run's own PostgreSQL, Redis and localstripe are not inherited.

Migrating an empty SQLite database takes minutes (dj-stripe's second migration
alone is ~500 operations, each a table rebuild on SQLite), so an empty migrated
database is built once per set of migration files and copied for each run;
serve.sh still runs `migrate` (a no-op then) and loads the demo data itself.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)

# Variables of the test run that must not reach the server: it is the
# embedded default, with its own database, channel layer and localstripe.
INHERITED_NOT = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DIGIS_TESTING", "STRIPE_API_HOST", "STRIPE_WEBHOOK_SECRET",
    "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "CSP_EXTRA_SCRIPT_SRC", "CSP_EXTRA_CONNECT_SRC",
    "CSP_EXTRA_FRAME_SRC", "PG_BINDIR", "SITE_URL", "PORT", "LOCALSTRIPE_PORT", "MEDIA_ROOT", "DEBUG",
    "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER",
)
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_NOT}
    env.update(
        DJANGO_SETTINGS_MODULE="digis.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        MEDIA_ROOT=str(workdir / "media"),
        TMPDIR=str(workdir),
        PYTHONUNBUFFERED="1",
        # One client address plays every person of the suite (a crawl as three
        # users is a few hundred requests a minute); the per-IP limit is for
        # the many-clients world.
        GLOBAL_RATE_LIMIT="6000/m",
        # The demo's earnings are minutes old: paid out without the hold, so
        # test_payouts can request one (the hold is tested with time-machine).
        PAYOUT_HOLD_DAYS="0",
    )
    return env


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    for name in ("requirements.txt",):
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:20]


def migrated_template() -> Path:
    """An empty database with every migration applied, built once per set of migrations."""
    cache = Path(os.environ.get("DIGIS_CACHE_DIR") or Path.home() / ".cache" / "digis")
    cache.mkdir(parents=True, exist_ok=True)
    template = cache / f"browser-empty-{_migrations_digest()}.sqlite3"
    if template.exists():
        return template
    with tempfile.TemporaryDirectory(prefix="digis-migrate-") as tmp:
        env = base_env(Path(tmp))
        subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        with sqlite3.connect(Path(tmp) / "db.sqlite3") as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        partial = template.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(Path(tmp) / "db.sqlite3", partial)
        partial.replace(template)  # atomic: a concurrent run sees all of it or none
    for stale in cache.glob("browser-empty-*.sqlite3"):
        if stale != template:
            stale.unlink(missing_ok=True)
    return template


@dataclass
class LiveServer:
    workdir: Path
    port: int
    localstripe_port: int
    env: dict
    process: subprocess.Popen | None = None
    used_codes: set = field(default_factory=set)
    log_path: Path = field(init=False)

    def __post_init__(self):
        self.log_path = self.workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        shutil.copyfile(migrated_template(), self.workdir / "db.sqlite3")
        log = open(self.log_path, "wb")
        # Its own session, so that stopping it ends daphne and localstripe too.
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "serve.sh")], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not answer /healthz within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the script's pid
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # daphne or localstripe may outlive the script by a moment.
        for _ in range(50):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pgid, signal.SIGKILL)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a management command against this server's database."""
        return subprocess.run(
            [str(PYTHON), "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def emailed_link(self, *, to: str, path_prefix: str, timeout_s: float = 15) -> str:
        """The newest link under `path_prefix` in an e-mail to `to`, read from the
        console e-mail backend's output in the server's log."""
        pattern = re.compile(re.escape(self.url + path_prefix) + r"[^\s\"'<>]+")
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log_text()
            messages = text.split("Content-Type: text/plain")
            for message in reversed(messages):
                if f"To: {to}" in message and (match := pattern.search(message)):
                    return match.group(0)
            if time.monotonic() > deadline:
                raise AssertionError(f"no e-mail to {to} with a link to {path_prefix} in the server's output")
            time.sleep(0.3)


    def one_time_code(self, username: str) -> str:
        """A staff account's one-time sign-in code from the demo seed's printout
        in the server's log, each handed out once per session (each works once)."""
        pattern = re.compile(rf"^\s*{re.escape(username)}\s.*one-time code, one of: (.+)$", re.M)
        match = pattern.search(self.log_text())
        assert match, f"no one-time codes for {username} in the server's output"
        for code in match.group(1).split():
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code
        raise AssertionError(f"every one-time code of {username} is used")


def start_server() -> LiveServer:
    workdir = Path(tempfile.mkdtemp(prefix="digis-browser-"))
    env = base_env(workdir)
    port, localstripe_port = free_port(), free_port()
    env.update(PORT=str(port), LOCALSTRIPE_PORT=str(localstripe_port))
    server = LiveServer(workdir=workdir, port=port, localstripe_port=localstripe_port, env=env)
    server.start()
    return server
