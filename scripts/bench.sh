#!/usr/bin/env bash
# `make bench`: every benchmark in bench/, one after another (each starts its
# own PostgreSQL, Redis or localstripe on loopback and stops them). Results are
# printed; copy the figures you measured into bench/RESULTS.md with the date
# and the machine's load. `make bench ARGS=ledger` runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
command -v redis-server >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(ledger calls payments explore realtime)
for name in "${names[@]}"; do
  echo "== bench/$name.py ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
  .venv/bin/python "bench/$name.py"
done
