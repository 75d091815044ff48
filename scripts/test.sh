#!/usr/bin/env bash
# Set up (idempotent), install what the tests drive (Chromium, curl, wget, aria2c, nginx) when missing, then
# run the whole suite. Extra arguments go to pytest: scripts/test.sh tests/unit -k ranges
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/setup.sh

ensure_debian_packages curl:curl wget:wget aria2c:aria2 node:nodejs nginx:nginx strace:strace '/usr/lib/postgresql/*/bin/initdb:postgresql'
if [ -z "${CHROMIUM:-}" ] && ! ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-* >/dev/null 2>&1; then
    ensure_debian_packages chromium:chromium
fi

exec .venv/bin/python -m pytest "$@"
