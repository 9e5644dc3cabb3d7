#!/usr/bin/env bash
# run-compose.sh [--runs N] [--warmup N] [--no-docker]: set up and build, then run
# bench/compose.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/compose.js "$@"
