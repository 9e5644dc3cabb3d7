#!/usr/bin/env bash
# run-pull-cpu.sh [--runs N]: set up and build, then run bench/pull-cpu.ts (where a pull's
# CPU goes: pierd by thread, igzip, the registry, beside curl | tar xzf). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
npm run build
exec node --enable-source-maps dist/bench/pull-cpu.js "$@"
