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


def git_commit() -> str:
    """The commit the run measured (short hash), "+ local changes" when the tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + local changes" if dirty else "")


def loadavg() -> str:
    """The 1, 5 and 15-minute load averages, as /proc/loadavg says them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "? ? ?"


class Run:
    """What identifies one benchmark run in bench/RESULTS.md: when it started,
    the commit, the load before (now) and after (``finish()``)."""

    def __init__(self, command: str):
        self.command = command
        self.started = time.gmtime()
        self.commit = git_commit()
        self.load_before = loadavg()
        self.load_after = None

    def finish(self) -> "Run":
        self.load_after = loadavg()
        return self

    def heading(self, what: str = "run") -> str:
        return (f"### {what}, {time.strftime('%Y-%m-%d %H:%M UTC', self.started)}, commit {self.commit}\n\n"
                f"`{self.command}`; load average before {self.load_before}, after {self.load_after or '?'} "
                f"({os.cpu_count()} CPUs, shared with other engineers' work unless the load says otherwise).\n\n")


def append_run(section: str, body: str, *, path: Path | None = None) -> Path:
    """Add one run's results at the end of ``section`` (a "## ..." heading) in
    bench/RESULTS.md (or ``path``), creating the section at the end of the file
    if it is missing. Nothing already in the file is changed: older runs stay as history."""
    path = path or Path(__file__).resolve().parent / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    body = body.strip("\n") + "\n"
    if body.startswith(section + "\n"):
        body = body[len(section) + 1:].lstrip("\n")
    lines = text.split("\n")
    try:
        start = lines.index(section)
    except ValueError:
        text = text.rstrip("\n") + "\n\n" + section + "\n\n" + body
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before = "\n".join(lines[:end]).rstrip("\n")
        after = "\n".join(lines[end:])
        text = before + "\n\n" + body + ("\n" + after if after else "")
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path


def write_results_section(section: str, body: str) -> Path:
    """Older benchmarks' name for ``append_run``: the run is added under the
    section, never written over an earlier one."""
    return append_run(section, body)


def record_target(bench: str, target: str, measured: str, goal: str, met: bool | None, note: str = "") -> None:
    """One row of `make bench`'s summary table: appended (JSON lines) to the
    file named by $BENCH_SUMMARY, which scripts/bench.sh sets; nothing when unset.
    ``met`` None: a figure reported without a target."""
    out = os.environ.get("BENCH_SUMMARY")
    if not out:
        return
    import json

    with open(out, "a") as f:
        f.write(json.dumps({"bench": bench, "target": target, "measured": measured, "goal": goal, "met": met,
                            "note": note}) + "\n")


def web_command(port: int, *, python: str | None = None) -> list[str]:
    """The Procfile's ``web`` line, bound to 127.0.0.1:``port``, with this
    checkout's Python: benchmarks start the web process exactly as a
    deployment does (``python -m digis.server``, daphne with the body limit)."""
    import shlex

    root = Path(__file__).resolve().parent.parent
    line = next(l for l in (root / "Procfile").read_text().splitlines() if l.startswith("web:"))
    words = []
    for word in shlex.split(line.split(":", 1)[1]):
        if word == "python":
            word = python or str(root / ".venv" / "bin" / "python")
        elif word.startswith("${BIND_ADDRESS"):
            word = "127.0.0.1"
        elif word.startswith("${PORT"):
            word = str(port)
        words.append(word)
    if str(port) not in words or "127.0.0.1" not in words:
        raise RuntimeError(f"Procfile's web line changed shape: {line!r}")
    return words


def start_web(count: int, env: dict, *, python: str | None = None, log_dir: str | None = None):
    """``count`` web processes as the Procfile runs them, each on its own
    loopback port; returns (ports, processes) once all accept connections."""
    root = Path(__file__).resolve().parent.parent
    ports = [free_port() for _ in range(count)]
    processes = []
    for port in ports:
        log = open(os.path.join(log_dir, f"web-{port}.log"), "wb") if log_dir else subprocess.DEVNULL
        processes.append(subprocess.Popen(web_command(port, python=python), cwd=root, env=env, stdout=log, stderr=log))
    for port, process in zip(ports, processes):
        if not wait_for_port(port, seconds=90):
            for p in processes:
                p.kill()
            raise RuntimeError(f"web process on port {port} did not start (exit code {process.poll()})")
    return ports, processes


def stop_processes(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def process_cpu_seconds(pids) -> float:
    """utime + stime of the processes (all their threads) so far, in seconds; gone processes count 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_for_quiet(max_load: float = 1.5, *, max_wait_s: float = 0, step_s: float = 120) -> str:
    """Wait (up to ``max_wait_s``) until the 1-minute load is at most ``max_load``; returns the load then."""
    deadline = time.monotonic() + max_wait_s
    while True:
        load = loadavg()
        if float(load.split()[0]) <= max_load or time.monotonic() >= deadline:
            return load
        print(f"load {load}: waiting for <= {max_load} ...", flush=True)
        time.sleep(step_s)


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

    def psql(self, sql: str, *, db: str = "digis") -> str:
        """Run SQL through psql; returns its unaligned output."""
        return subprocess.run(
            [f"{self.bindir}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "digis", "-d", db, "-v", "ON_ERROR_STOP=1",
             "-At", "-q"], input=sql, check=True, capture_output=True, text=True,
        ).stdout

    def cpu_seconds(self) -> float:
        """CPU the server has used so far: postmaster, live backends and workers, and exited children."""
        tick = os.sysconf("SC_CLK_TCK")
        postmaster = open(os.path.join(self.data, "postmaster.pid")).readline().strip()
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if pid == postmaster:
                total += sum(int(f) for f in fields[11:15])  # own utime, stime + exited children's
            elif fields[1] == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick

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

    @property
    def pid(self) -> int:
        return int(Path(self.workdir, "redis.pid").read_text())

    def commands(self) -> int:
        """Commands Redis has processed so far (INFO stats total_commands_processed)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_commands_processed:" not in data or not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        for line in data.decode().splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])  # not counting this INFO
        raise RuntimeError("no total_commands_processed in INFO")

    def stop(self) -> None:
        pidfile = Path(self.workdir, "redis.pid")
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)
