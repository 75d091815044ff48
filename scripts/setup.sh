#!/usr/bin/env bash
# Idempotent set-up: the virtual environment at .venv/ with the project and its test tools, the browser
# assets (PyScript, Pyodide) pinned by frontend/package-lock.json, the benchmark peers pinned by
# bench/peers/package-lock.json, and the tus clients the tests drive (tus-js-client, Uppy, esbuild) pinned by
# tests/support/tus_js/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

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

npm_ci_once frontend
npm_ci_once bench/peers
npm_ci_once tests/support/tus_js
