#!/usr/bin/env bash
# Idempotent set-up: the virtual environment at .venv/ with the project and its test tools, and the browser
# assets (PyScript, Pyodide) from npm, pinned by frontend/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    touch "$stamp"
fi

if [ -f frontend/package-lock.json ]; then
    lockstamp=frontend/node_modules/.installed
    if [ ! -f "$lockstamp" ] || [ frontend/package-lock.json -nt "$lockstamp" ]; then
        (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
        touch "$lockstamp"
    fi
fi
