#!/usr/bin/env bash
# run-volumes.sh [--runs N] [--warmup N] [--files N] [--no-docker]: set up and build, then run
# bench/volumes.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/volumes.js "$@"
