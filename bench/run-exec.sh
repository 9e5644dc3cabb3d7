#!/usr/bin/env bash
# run-exec.sh [--runs N] [--warmup N] [--containers N] [--no-pier] [--no-docker]: set up and
# build, then run bench/exec.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/exec.js "$@"
