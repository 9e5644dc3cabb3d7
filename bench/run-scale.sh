#!/usr/bin/env bash
# run-scale.sh [--counts 100,1000] [--burst 100] [--clients 10] [--runtime crun|runc]: set up and
# build, then run bench/scale.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/scale.js "$@"
