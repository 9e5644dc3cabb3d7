#!/usr/bin/env bash
# run-logs.sh [--mb N] [--runs N] [--warmup N] [--no-pier] [--no-docker]: set up and build,
# then run bench/logs.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/logs.js "$@"
