#!/usr/bin/env bash
# The whole site on the embedded default, in the foreground, from an installed .venv:
# companions (localstripe, ...), migrate, demo data, daphne. `make run` (scripts/run.sh)
# installs and then runs this; the browser suite (e2e/browser/) runs it too, with its
# own PORT, LOCALSTRIPE_PORT, DATABASE_URL (a temporary SQLite file) and MEDIA_ROOT.
# Ending this script's process group stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=digis.settings
PY=.venv/bin/python
export PORT="${PORT:-8000}"
# Links in e-mails (verification, password reset) point at this server.
export SITE_URL="${SITE_URL:-http://127.0.0.1:$PORT}"

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
echo "Digis is starting on http://127.0.0.1:$PORT  (Ctrl-C stops it)"
# In the foreground, not `&` + `wait`: a non-interactive shell starts `&`
# jobs with SIGINT ignored, so Ctrl-C reached daphne only through the trap's
# SIGTERM. Now it gets Ctrl-C itself, and the EXIT trap stops the companions.
DIGIS_EMBEDDED_BEAT=1 .venv/bin/python -m digis.server -b 127.0.0.1 -p "$PORT" digis.asgi:application
