#!/usr/bin/env bash
# run-distribution.sh [--runs N] [--no-docker]: set up and build, then run bench/distribution.ts
# (pull and push of a 200 MB image through pierd, Docker and curl | tar). As root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
npm run build
exec node --enable-source-maps dist/bench/distribution.js "$@"
