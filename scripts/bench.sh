#!/usr/bin/env bash
# Benchmarks side by side with the peers (results: bench-results/<timestamp>.json and docs/benchmarks.md).
# Idempotent: sets the project up (which installs the npm peers pinned in bench/peers), installs what the
# benchmarks drive when missing (nginx, curl, node from Debian, when run as root), then runs them.
# Arguments go to the runner: scripts/bench.sh --quick | --only ingest downloads | --runs 5 | --profile | --list
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/setup.sh
ensure_debian_packages nginx:nginx curl:curl node:nodejs chromium:chromium
[ -x .venv/bin/py-spy ] || .venv/bin/python -m pip install --quiet 'py-spy>=0.4,<1'  # for --profile
exec .venv/bin/python -m bench "$@"
