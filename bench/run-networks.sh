#!/usr/bin/env bash
# run-networks.sh [--runs N] [--warmup N] [--mib N] [--transfers N] [--no-pier] [--no-docker] [--no-veth]:
# set up and build, then run bench/networks.ts (see there). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node --enable-source-maps dist/bench/networks.js "$@"
