#!/usr/bin/env bash
# run-phases.sh [--runs N] [--warmup N]: set up and build, then run bench/phases.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/phases.js "$@"
