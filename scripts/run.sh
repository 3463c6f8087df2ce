#!/usr/bin/env bash
# `make run`: the whole site on the embedded default at http://127.0.0.1:8000.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements.txt
export DJANGO_SETTINGS_MODULE=digis.settings
PY=.venv/bin/python

children=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Optional companions (localstripe, ...) register themselves in scripts/run.d/.
for companion in scripts/run.d/*.sh; do
  [ -e "$companion" ] || continue
  # shellcheck source=/dev/null
  source "$companion"
done

$PY manage.py migrate --noinput
$PY manage.py seed_demo
echo
echo "Digis is starting on http://127.0.0.1:${PORT:-8000}  (Ctrl-C stops it)"
# In the foreground, not `&` + `wait`: a non-interactive shell starts `&`
# jobs with SIGINT ignored, so Ctrl-C reached daphne only through the trap's
# SIGTERM. Now it gets Ctrl-C itself, and the EXIT trap stops the companions.
DIGIS_EMBEDDED_BEAT=1 .venv/bin/python -m digis.server -b 127.0.0.1 -p "${PORT:-8000}" digis.asgi:application
