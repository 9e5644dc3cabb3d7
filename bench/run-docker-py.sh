#!/usr/bin/env bash
# run-docker-py.sh [OUTDIR]: docker-py's own integration suite (../shared/docker-py, unmodified)
# against a private pierd on a temporary root and socket, then the comparison with Docker's
# score on this kind of machine: the counts, and every test Docker passes that pier does not.
# As root. About 4 to 8 minutes on 2 cores. Not part of .ci/run (it needs Debian's
# python3-pytest or a python3 that has pytest; set DPY_PYTHON to choose the interpreter).
# Exit status: 0 when pier passes every test Docker passes, 1 otherwise, 2 when it could not run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
suite=${DOCKER_PY_SUITE:-$(cd .. && pwd)/shared/docker-py}
[ -f "$suite/run.sh" ] || { echo "run-docker-py: no docker-py suite at $suite" >&2; exit 2; }
bash scripts/setup.sh >/dev/null || exit 2

work=$(mktemp -d /tmp/pier-dpy.XXXXXX)
out=${1:-$work/out}
pid= linked=
default_sock=/var/run/docker.sock
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  [ -n "$linked" ] && rm -f "$default_sock"
  rm -rf "$work/root" "$work/run"
}
trap cleanup EXIT

bin/pierd --root "$work/root" --exec-root "$work/run" --host "unix://$work/pier.sock" >"$work/pierd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$work/pier.sock" http://pier/_ping >/dev/null && break
  sleep 0.1
done
curl -sf --unix-socket "$work/pier.sock" http://pier/_ping >/dev/null || { tail "$work/pierd.log" >&2; exit 2; }

# One of the suite's tests (credentials/utils_test.py::test_create_environment_dict) replaces
# os.environ for good, so the tests after it lose DOCKER_HOST and reach the default socket:
# while the suite runs, that path leads to the pierd under test when nothing else is there.
if [ ! -e "$default_sock" ] && [ ! -L "$default_sock" ]; then
  ln -s "$work/pier.sock" "$default_sock" && linked=1
fi

start=$(date +%s)
bash "$suite/run.sh" "$work/pier.sock" "$out" | tail -n 1
rc=${PIPESTATUS[0]}
[ "$rc" -ge 2 ] && { echo "run-docker-py: the suite could not run (see $out)" >&2; exit 2; }
echo "took $(( $(date +%s) - start )) s; results in $out"

missing=$(LC_ALL=C comm -23 <(LC_ALL=C sort "$suite/baseline-dockerd-passed.txt") <(LC_ALL=C sort "$out/passed.txt"))
beyond=$(LC_ALL=C comm -13 <(LC_ALL=C sort "$suite/baseline-dockerd-passed.txt") <(LC_ALL=C sort "$out/passed.txt"))
echo "Docker passes $(wc -l <"$suite/baseline-dockerd-passed.txt"); pier passes $(wc -l <"$out/passed.txt")," \
  "$(printf '%s' "$beyond" | grep -c .) of them beyond Docker's"
if [ -n "$missing" ]; then
  echo "passed by Docker, not by pier ($(printf '%s\n' "$missing" | wc -l)):"
  printf '%s\n' "$missing" | while read -r t; do
    why=$(grep -F "$t" "$out/failed.txt" "$out/skipped.txt" 2>/dev/null | head -n 1 | cut -d' ' -f2- | cut -c1-140)
    printf '  %s  %s\n' "$t" "${why:-(not run)}"
  done
  exit 1
fi
