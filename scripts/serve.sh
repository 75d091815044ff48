#!/usr/bin/env bash
# Set up (idempotent), then run the server on the embedded default (local disk + SQLite in ./data).
# Extra arguments go to the server: scripts/serve.sh --port 9000 --cors-origins https://example.com
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m server "$@"
