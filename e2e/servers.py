"""Digis as it is deployed, on loopback: its own PostgreSQL, Redis and localstripe,
and the Procfile's processes with DEBUG=false and the manifest static files.

Used by the production tier (``e2e/production``). Nothing here imports Django:
the processes under test are separate programs, driven over HTTP and WebSocket
like any client would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def pg_bindir() -> str:
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]

    def version(path: Path):
        return [int(x) for x in path.parent.name.split(".") if x.isdigit()]

    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if (path / "initdb").exists():
            return str(path)
    raise RuntimeError("PostgreSQL server binaries not found (scripts/test.sh installs them)")


class Postgres:
    """A throwaway cluster the tier may restart at will (the suite's own keeps running)."""

    def __init__(self, workdir: Path):
        self.bindir = pg_bindir()
        self.data = workdir / "pg"
        self.port = free_port()
        self.as_pg: list[str] = []
        if os.getuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], check=True)
            self.as_pg = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://digis@127.0.0.1:{self.port}/digis"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_pg, f"{self.bindir}/pg_ctl", "-D", str(self.data), *args], check=check,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> "Postgres":
        self.data.mkdir()
        if self.as_pg:
            shutil.chown(self.data, "postgres")
        subprocess.run([*self.as_pg, f"{self.bindir}/initdb", "-D", str(self.data), "-U", "digis", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        self.boot()
        subprocess.run([f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digis", "digis"], check=True)
        return self

    def boot(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c max_connections=200 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._pg_ctl("-l", str(self.data / "server.log"), "-w", "start", "-o", options)

    def restart(self) -> float:
        """A fast restart (what a failover or a minor upgrade looks like); returns how long the server was away."""
        started = time.monotonic()
        self._pg_ctl("-m", "fast", "-w", "stop")
        self.boot()
        return time.monotonic() - started

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop", check=False)


class Redis:
    def __init__(self, workdir: Path):
        self.workdir = workdir / "redis"
        self.workdir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
        )
        if not wait_for_port(self.port, seconds=10):
            raise RuntimeError("redis-server did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def freeze(self) -> None:
        """Stop answering without closing connections (a hung server, a network partition)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class Deployment:
    """The Procfile's ``release``, ``web`` (``webs`` of them), ``worker`` and ``beat`` against fresh backing services."""

    webs: int = 1
    extra_env: dict = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="digis-production-")))
    processes: list[Process] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        os.chmod(self.workdir, 0o755)
        self.postgres = Postgres(self.workdir)
        self.redis = Redis(self.workdir)
        self.localstripe_port = free_port()
        self.webhook_secret = "whsec_" + secrets.token_hex(24)
        self.secret_key = secrets.token_urlsafe(64)
        self.email_dir = self.workdir / "mail"

    # --- environment -------------------------------------------------------

    @property
    def env(self) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DIGIS_", "DATABASE_", "REDIS_", "STRIPE_", "PYTEST", "CSP_"))
        }
        env.update(
            {
                "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "DJANGO_SETTINGS_MODULE": "digis.settings",
                "DIGIS_TESTING": "false",
                "DEBUG": "false",
                # The Procfile's web line binds ${BIND_ADDRESS:-0.0.0.0} (all
                # interfaces, as a platform expects); here only loopback.
                "BIND_ADDRESS": "127.0.0.1",
                "SECRET_KEY": self.secret_key,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SITE_URL": "https://127.0.0.1",
                "DATABASE_URL": self.postgres.url,
                "REDIS_URL": self.redis.url,
                # As deployed behind one TLS-terminating proxy: the tier's
                # client plays that proxy (X-Forwarded-Proto/For on every request).
                "SECURE_PROXY_SSL_HEADER": "true",
                "TRUSTED_PROXY_COUNT": "1",
                "CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
                "STATIC_ROOT": str(self.workdir / "staticfiles"),
                "CELERY_BEAT_SCHEDULE_FILENAME": str(self.workdir / "celerybeat-schedule"),
                "MEDIA_ROOT": str(self.workdir / "media"),
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(self.email_dir),
                "STRIPE_API_HOST": f"http://127.0.0.1:{self.localstripe_port}",
                "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
                # INFO: the access log (one line per request) is how the tier counts 5xx.
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({key: str(value) for key, value in self.extra_env.items()})
        return env

    # --- lifecycle ---------------------------------------------------------

    def _timed(self, name: str, step, *args):
        started = time.monotonic()
        result = step(*args)
        self.timings[name] = round(time.monotonic() - started, 1)
        return result

    def start(self) -> "Deployment":
        self._timed("postgres", self.postgres.start)
        self._timed("redis", self.redis.start)
        self._spawn("localstripe", [sys.executable, "-m", "payments.localstripe_server", "--port", str(self.localstripe_port)])
        self._timed("collectstatic", self.manage, "collectstatic", "--noinput", "-v", "0")
        self._timed("release (migrate)", self._run_procfile_line, "release")
        self._timed("seed_demo", self.manage, "seed_demo")
        started = time.monotonic()
        for _ in range(self.webs):
            port = free_port()
            self._spawn_procfile_line("web", port=port)
        self._spawn_procfile_line("worker")
        self._spawn_procfile_line("beat")
        for web in self.web_processes:
            if not wait_for_port(web.port, seconds=60):
                raise RuntimeError(f"web did not start:\n{web.tail()}")
        subprocess.run(
            [sys.executable, "-m", "payments.localstripe_server", "--port", str(self.localstripe_port), "--register-webhook",
             self.url("/api/payments/stripe/webhook/"), "--secret", self.webhook_secret],
            check=True, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
        )
        self.wait_ready()
        self.timings["processes up and ready"] = round(time.monotonic() - started, 1)
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.alive():
                process.popen.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.popen.wait(15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
        self.redis.stop()
        self.postgres.stop()
        if not os.environ.get("DIGIS_KEEP_PRODUCTION_WORKDIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _spawn(self, name: str, argv: list[str], *, port: int | None = None, shell: bool = False) -> Process:
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        env = self.env
        if port is not None:
            env["PORT"] = str(port)
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, shell=shell,
            executable="/bin/bash" if shell else None, start_new_session=True,
        )
        process = Process(name, popen, log, port)
        self.processes.append(process)
        return process

    def _spawn_procfile_line(self, name: str, *, port: int | None = None) -> Process:
        return self._spawn(name, "exec " + procfile()[name].strip(), port=port, shell=True)

    def _run_procfile_line(self, name: str) -> None:
        subprocess.run("exec " + procfile()[name].strip(), shell=True, executable="/bin/bash", cwd=ROOT, env=self.env,
                       check=True, stdout=subprocess.DEVNULL)

    def manage(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, input=input,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python in a Django shell of the deployment (arrange data, read state)."""
        return self.manage("shell", "-c", code)

    @property
    def web_processes(self) -> list[Process]:
        return [process for process in self.processes if process.name == "web"]

    def url(self, path: str = "/", *, web: int = 0) -> str:
        return f"http://127.0.0.1:{self.web_processes[web].port}{path}"

    def wait_ready(self, *, seconds: float = 60.0) -> float:
        """Seconds until /readyz answers 200 (raises when it does not in time)."""
        import httpx

        started = time.monotonic()
        deadline = started + seconds
        last = None
        while time.monotonic() < deadline:
            try:
                last = httpx.get(self.url("/readyz"), timeout=5)
                if last.status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(f"not ready after {seconds}s: {last!r}\n" + "\n".join(p.tail(20) for p in self.processes))

    def all_alive(self) -> dict[str, bool]:
        return {f"{p.name}-{i}": p.alive() for i, p in enumerate(self.processes)}

    def logs(self, name: str) -> str:
        return "\n".join(p.log.read_text(errors="replace") for p in self.processes if p.name == name)

    def server_errors(self) -> list[dict]:
        """Access-log lines with a 5xx other than 503 (a documented "come back later") from every web process."""
        errors = []
        for line in self.logs("web").splitlines():
            if '"digis.access"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            status = int(record.get("status") or 0)
            if status >= 500 and status != 503:
                errors.append(record)
        return errors

    def last_email(self, to: str) -> str:
        mails = sorted(self.email_dir.glob("*.log"), key=lambda p: p.stat().st_mtime) if self.email_dir.exists() else []
        for path in reversed(mails):
            text = path.read_text(errors="replace")
            if re.search(rf"^To: {re.escape(to)}$", text, re.M):
                return text
        raise LookupError(f"no e-mail to {to}")


if __name__ == "__main__":
    # `python -m e2e.servers`: the production tier's deployment, left running to poke at by hand.
    deployment = Deployment(webs=2).start()
    print(f"ready in {deployment.timings}; web: {[deployment.url(web=i) for i in range(2)]}; workdir: {deployment.workdir}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        deployment.stop()
