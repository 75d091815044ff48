#!/usr/bin/env bash
# Set up (idempotent), install nginx and PostgreSQL when missing, then start a local cluster to try:
# PostgreSQL, SeaweedFS (S3), N server instances sharing them, nginx in front (round robin). Prints the URL;
# Ctrl-C (or SIGTERM) stops everything. Data is kept in --data (default ./cluster-data) between starts.
#   bash scripts/cluster.sh --instances 3 --port 8080 --data cluster-data [-- flags for every instance]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/setup.sh
ensure_debian_packages nginx:nginx '/usr/lib/postgresql/*/bin/initdb:postgresql'
exec .venv/bin/python -m bench.cluster "$@"
