"""Throwaway PostgreSQL and Redis on loopback for the benchmarks (the same
recipe as scripts/test.sh): a temp directory, a free port, run as the
postgres system user when we are root, removed on stop()."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Throwaway durability for benches that measure reads; benches that measure
# writes against a reference (pgbench) keep PostgreSQL's defaults.
FAST_UNSAFE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, seconds: float = 30.0) -> bool:
    """Whether something accepts connections on 127.0.0.1:port within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def write_results_section(section: str, body: str) -> Path:
    """Replace `section` (a "## ..." heading line, up to the next one) in
    bench/RESULTS.md with `body`, or append it; returns the file's path."""
    path = Path(__file__).resolve().parent / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if section + "\n" in text:
        start = text.index(section + "\n")
        end = text.find("\n## ", start + len(section))
        text = text[:start] + body + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text)
    return path


def pg_bindir() -> str:
    def version(path: Path):
        return [int(x) for x in path.parent.name.split(".") if x.isdigit()]

    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if (path / "initdb").exists():
            return str(path)
    sys.exit("PostgreSQL binaries not found (install postgresql)")


class Postgres:
    def __init__(self, *, durable: bool, max_connections: int = 100, prefix: str = "digis-bench-"):
        self.durable = durable
        self.max_connections = max_connections
        self.bindir = pg_bindir()
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.workdir, 0o755)
        self.data = os.path.join(self.workdir, "pg")
        self.port = free_port()
        self.as_pg = []
        if os.getuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], check=True)
            self.as_pg = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://digis@127.0.0.1:{self.port}/digis"

    def run(self, *args, **kwargs):
        return subprocess.run([*self.as_pg, *args], check=True, **kwargs)

    def start(self) -> "Postgres":
        os.mkdir(self.data)
        if self.as_pg:
            shutil.chown(self.data, "postgres")
        initdb = [f"{self.bindir}/initdb", "-D", self.data, "-U", "digis", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        self.run(*initdb, *([] if self.durable else ["--no-sync"]), stdout=subprocess.DEVNULL)
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} "
                   f"-c max_connections={self.max_connections} -c shared_buffers=256MB")
        if not self.durable:
            options += " " + FAST_UNSAFE
        self.run(f"{self.bindir}/pg_ctl", "-D", self.data, "-l", f"{self.data}/server.log", "-w", "start", "-o", options,
                 stdout=subprocess.DEVNULL)
        self.createdb("digis")
        return self

    def createdb(self, name: str) -> None:
        subprocess.run([f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digis", name], check=True)

    def settings(self) -> dict:
        out = subprocess.run(
            [f"{self.bindir}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digis", "-d", "digis", "-At", "-c",
             "select name || '=' || setting from pg_settings where name in ('fsync','synchronous_commit','full_page_writes','server_version')"],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()
        return dict(line.split("=", 1) for line in out if "=" in line)

    def stop(self) -> None:
        subprocess.run([*self.as_pg, f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Redis:
    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="digis-bench-redis-")
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                        "--daemonize", "yes", "--pidfile", f"{self.workdir}/redis.pid", "--dir", self.workdir,
                        "--logfile", f"{self.workdir}/redis.log"], check=True)
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        pidfile = Path(self.workdir, "redis.pid")
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)
