#!/usr/bin/env bash
# run-userns.sh [--runs N] [--warmup N]: set up and build, then run bench/userns.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/userns.js "$@"
