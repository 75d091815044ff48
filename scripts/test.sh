#!/usr/bin/env bash
# Set up (idempotent), install what the tests drive (Chromium, curl, wget, aria2c) when missing, then run
# the whole suite. Extra arguments go to pytest: scripts/test.sh tests/unit -k ranges
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

need=()
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
command -v aria2c >/dev/null || need+=(aria2)
command -v node >/dev/null || need+=(nodejs)
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ] && ! ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-* >/dev/null 2>&1; then
    need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing ${need[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing: ${need[*]} (install them, e.g. sudo apt-get install ${need[*]})" >&2
        exit 1
    fi
fi

exec .venv/bin/python -m pytest "$@"
