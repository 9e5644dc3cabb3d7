#!/usr/bin/env bash
# run-latency.sh [--runs N] [--warmup N] [--idle N] [--no-pier] [--no-raw] [--no-docker]:
# set up and build, then run bench/latency.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/latency.js "$@"
