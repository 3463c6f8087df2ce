#!/usr/bin/env bash
# `make test`: the whole suite against a throwaway PostgreSQL and Redis on loopback.
# Both are started here, in a temporary directory, and stopped on exit.
# Extra arguments go to pytest (e.g. `make test ARGS="-k ledger -x"`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- binaries -----------------------------------------------------------------
command -v redis-server >/dev/null || apt_install redis-server
# The browser tier (e2e/browser/) drives Debian's chromium: Playwright cannot
# download its own browsers here.
[ -x /usr/bin/chromium ] || apt_install chromium
pg_bindir=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  [ -x "$dir/initdb" ] && { pg_bindir="$dir"; break; }
done
if [ -z "$pg_bindir" ]; then
  apt_install postgresql
  pg_bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V -r | head -n1)"
fi

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

workdir="$(mktemp -d /tmp/digis-test.XXXXXX)"
chmod 755 "$workdir"
pg_port="$(free_port)"
redis_port="$(free_port)"

# PostgreSQL refuses to run as root: run it as the postgres system user.
run_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  run_pg=(runuser -u postgres --)
fi

cleanup() {
  status=$?
  trap - EXIT INT TERM
  [ -f "$workdir/redis.pid" ] && kill "$(cat "$workdir/redis.pid")" 2>/dev/null || true
  for hook in scripts/test.d/*.stop; do [ -e "$hook" ] && source "$hook"; done
  "${run_pg[@]}" "$pg_bindir/pg_ctl" -D "$workdir/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT INT TERM

mkdir "$workdir/pg"
[ "$(id -u)" = 0 ] && chown postgres "$workdir/pg"
"${run_pg[@]}" "$pg_bindir/initdb" -D "$workdir/pg" -U digis --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
# A throwaway cluster: durability settings off for speed; connections sized
# for the race tests' threads.
"${run_pg[@]}" "$pg_bindir/pg_ctl" -D "$workdir/pg" -l "$workdir/pg/server.log" -w start -o \
  "-c listen_addresses=127.0.0.1 -p $pg_port -k $workdir/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
"$pg_bindir/createdb" -h 127.0.0.1 -p "$pg_port" -U digis digis

redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize yes \
  --pidfile "$workdir/redis.pid" --dir "$workdir" --logfile "$workdir/redis.log"
# Wait until it answers (a loaded machine can take seconds): tests that start
# before Redis does would see it "away" and take the outage paths.
for _ in $(seq 300); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || { echo "redis-server did not start" >&2; cat "$workdir/redis.log" >&2; exit 1; }

export DATABASE_URL="postgres://digis@127.0.0.1:$pg_port/digis"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export DIGIS_TESTING=1
export PG_BINDIR="$pg_bindir"

# Companions the suite needs (localstripe, ...) start from scripts/test.d/*.start.
for hook in scripts/test.d/*.start; do [ -e "$hook" ] && source "$hook"; done

echo "PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
exit "$status"
