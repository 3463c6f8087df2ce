#!/usr/bin/env bash
# `make bench`: the benchmarks in bench/, one after another (each starts its
# own PostgreSQL, Redis, localstripe and web processes on loopback and stops
# them), then one summary table with every target and met / not met.
#
#   make bench                          full sizes, for a quiet machine (~60 min on 2 cores);
#                                       every run is appended to bench/RESULTS.md with its
#                                       date, commit and load before and after
#   make bench ARGS=--quick             small sizes (~10 min quiet, ~25 min at load 6-10): checks the scripts end to end;
#                                       nothing is written to bench/RESULTS.md
#   make bench ARGS="ledger payments"   only these (explore, ledger, payments, calls, realtime: messaging sockets,
#                                       live: a live room's fan-out, dashboard: the staff console); with --quick too
#
# The full sizes wait (up to 10 min) for the 1-minute load to fall to 1.5 first;
# BENCH_MAX_LOAD / BENCH_WAIT_S change that.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
command -v redis-server >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

quick=0
names=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    explore|ledger|payments|calls|realtime|live|dashboard) names+=("$arg") ;;
    *) echo "unknown argument: $arg (explore, ledger, payments, calls, realtime, live, dashboard, --quick)" >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(ledger payments explore calls realtime live dashboard)

if [ $quick = 1 ]; then
  declare -A runs=(
    [ledger]="bench/ledger.py --clients 4 --seconds 3 --rounds 2 --processes 2 --no-write"
    [payments]="bench/payments.py --server --rounds 1 --no-write|bench/payments.py --sustained --rates 10,20 --duration 10 --no-write"
    [explore]="bench/explore.py --creators 1000 --clients 8 --seconds 3 --rounds 1 --single-seconds 1 --no-write"
    [calls]="bench/calls.py --ended 10000 --live 100 --runs 5 --no-write"
    [realtime]="bench/realtime.py --clients 50 --conversations 10 --seconds 3 --rounds 1 --followers 500 --no-write"
    [live]="bench/realtime_live.py --viewers 100 --seconds 5 --no-write"
    [dashboard]="bench/dashboard.py --calls 20000 --entries 200000 --runs 5 --no-write"
  )
else
  declare -A runs=(
    [ledger]="bench/ledger.py --clients 16 --seconds 15 --rounds 5"
    [payments]="bench/payments.py --server --rounds 5|bench/payments.py --sustained --rates 25,50,100,150,200 --duration 60"
    [explore]="bench/explore.py --creators 10000 --clients 32 --seconds 8 --rounds 3|bench/explore.py --creators 100000 --clients 32 --seconds 8 --rounds 3"
    [calls]="bench/calls.py --ended 1000000 --live 1000 --runs 50"
    [realtime]="bench/realtime.py"
    [live]="bench/realtime_live.py"
    [dashboard]="bench/dashboard.py"
  )
fi

export BENCH_SUMMARY
BENCH_SUMMARY="$(mktemp -t digis-bench-summary.XXXXXX)"
trap 'rm -f "$BENCH_SUMMARY"' EXIT
for name in "${names[@]}"; do
  IFS='|' read -ra commands <<< "${runs[$name]}"
  for command in "${commands[@]}"; do
    if [ $quick = 0 ]; then
      .venv/bin/python -c "import sys; sys.path.insert(0, 'bench'); import servers; servers.wait_for_quiet(float('${BENCH_MAX_LOAD:-1.5}'), max_wait_s=float('${BENCH_WAIT_S:-600}'), step_s=30)"
    fi
    echo "== $command ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
    # shellcheck disable=SC2086  # the command line is meant to be split into words
    flock /tmp/digis-bench.lock .venv/bin/python $command
  done
done
if [ $quick = 1 ]; then
  .venv/bin/python bench/summary.py "$BENCH_SUMMARY" --quick
else
  .venv/bin/python bench/summary.py "$BENCH_SUMMARY"
fi
