#!/usr/bin/env bash
# `make run`: the whole site on the embedded default at http://127.0.0.1:8000
# (PORT=8001 make run for another port). Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements.txt
exec scripts/serve.sh
