#!/usr/bin/env bash
# test.sh (what `npm test` and .ci/run run): set up, then type-check, lint, the unit tests
# (src/**/*.test.ts, built into dist/src) and the integration tests (test/*.test.ts, built into
# dist/test, one file at a time: each starts its own daemons and runs real containers, as root).
# Every stage runs even when an earlier one failed; the exit code is non-zero if any failed,
# and the last line counts the tests of both runners: "total: N passed, N failed, N skipped".
# Environment: PIER_TEST_TIMEOUT_MS (one test, default 300000), PIER_TEST_ONLY=unit|e2e.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh || exit 1

work=$(mktemp -d /tmp/pier-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=()
passed=0 failures=0 skipped=0

stage() { printf '\n== %s\n' "$1"; }

# built_tests DIST_DIR SRC_DIR: the compiled test files whose TypeScript source still exists
# (a deleted test leaves its .js in dist/ until dist/ is removed).
built_tests() {
  find "$1" -name '*.test.js' | sort | while read -r js; do
    ts="$2/${js#"$1"/}"
    [ -f "${ts%.js}.ts" ] && printf '%s\n' "$js"
  done
}

# count WORD LOG: the number on the spec reporter's summary line "ℹ WORD N".
count() { sed -n "s/^ℹ $1 \([0-9]*\)$/\1/p" "$2" | tail -n 1; }

# run_tests NAME TIMEOUT CONCURRENCY FILES...: node's test runner (spec reporter), its counts
# added to the totals. A whole run is bounded by TIMEOUT so a hang fails instead of eating CI.
run_tests() {
  local name=$1 limit=$2 concurrency=$3; shift 3
  local log="$work/$name.out"
  timeout --kill-after=30s "$limit" node --enable-source-maps --test --test-reporter=spec \
    --test-concurrency="$concurrency" --test-timeout="${PIER_TEST_TIMEOUT_MS:-300000}" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "test.sh: $name tests stopped after $limit" >&2
  [ "$rc" = 0 ] || failed+=("$name")
  local p f c s t
  p=$(count pass "$log") f=$(count fail "$log") c=$(count cancelled "$log") s=$(count skipped "$log") t=$(count todo "$log")
  passed=$((passed + ${p:-0})) failures=$((failures + ${f:-0} + ${c:-0})) skipped=$((skipped + ${s:-0} + ${t:-0}))
  # a run that died before its summary counts as one failure
  [ -z "$f" ] && [ "$rc" != 0 ] && failures=$((failures + 1))
  return 0
}

only=${PIER_TEST_ONLY:-}
if [ -z "$only" ]; then
  stage typecheck
  npm run --silent typecheck && echo ok || failed+=(typecheck)
  stage lint
  npm run --silent lint && echo ok || failed+=(lint)
fi

if [ -z "$only" ] || [ "$only" = unit ]; then
  stage "unit tests"
  mapfile -t unit < <(built_tests dist/src src)
  if [ "${#unit[@]}" -eq 0 ]; then
    echo "test.sh: no unit test files under dist/src" >&2
    failed+=(unit)
  else
    run_tests unit 20m 2 "${unit[@]}"
  fi
fi

if [ -z "$only" ] || [ "$only" = e2e ]; then
  stage "integration tests"
  mapfile -t e2e < <(built_tests dist/test test)
  if [ "${#e2e[@]}" -eq 0 ]; then
    echo "test.sh: no integration test files under dist/test" >&2
    failed+=(e2e)
  elif [ "$(id -u)" != 0 ]; then
    echo "test.sh: the integration tests run containers and need root" >&2
    failed+=(e2e)
  else
    run_tests e2e 60m 1 "${e2e[@]}"
  fi
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
fi
echo "total: $passed passed, $failures failed, $skipped skipped"
[ "${#failed[@]}" -eq 0 ]
