#!/usr/bin/env bash
# demo.sh: pier's main job on a fresh machine, as root. Sets up (scripts/setup.sh), starts pierd
# in the background on its default paths (or finds it already answering there), imports a
# busybox image built from Debian's busybox-static as busybox:latest, runs a container in it,
# and leaves the daemon running for the docker CLI and `pier`. Idempotent.
# Environment: PIER_ROOT (/var/lib/pier), PIER_EXEC_ROOT (/run/pier; the socket is
# <exec-root>/pier.sock), PIER_LOG (/var/log/pierd.log), PIER_PIDFILE (/run/pierd.pid),
# PIER_RUNTIME (crun or runc; default: the daemon's choice).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (sudo bash scripts/demo.sh): pier runs containers" >&2; exit 1; }

ROOT=${PIER_ROOT:-/var/lib/pier}
EXEC_ROOT=${PIER_EXEC_ROOT:-/run/pier}
LOG=${PIER_LOG:-/var/log/pierd.log}
PIDFILE=${PIER_PIDFILE:-/run/pierd.pid}
SOCK=$EXEC_ROOT/pier.sock
HOST=unix://$SOCK

say "setting up (Debian packages, npm packages, build)"
bash scripts/setup.sh

ping() { curl -fs --max-time 2 --unix-socket "$SOCK" http://pier/_ping >/dev/null 2>&1; }
if ping; then
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  say "pierd already answers on $SOCK${pid:+ (pid $pid)}"
else
  say "starting pierd on $SOCK (root $ROOT, log $LOG)"
  mkdir -p "$(dirname "$LOG")" "$(dirname "$PIDFILE")"
  args=(--root "$ROOT" --exec-root "$EXEC_ROOT" --host "$HOST")
  [ -n "${PIER_RUNTIME:-}" ] && args+=(--runtime "$PIER_RUNTIME")
  setsid "$repo/bin/pierd" "${args[@]}" </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 150); do
    ping && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! ping; then
    echo "demo.sh: pierd did not come up; the end of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
fi

# pier's own CLI when it is built, else the docker CLI: both speak the same API.
export DOCKER_HOST=$HOST PIER_HOST=$HOST
if [ -x bin/pier ]; then cli=("$repo/bin/pier"); else cli=(docker); fi

say "importing busybox:latest (from Debian's busybox-static) with ${cli[0]##*/} import"
bash scripts/busybox-rootfs.sh | "${cli[@]}" import --change 'CMD ["sh"]' - busybox:latest

say "${cli[0]##*/} run --rm busybox echo hello from pier"
"${cli[@]}" run --rm busybox echo hello from pier

if [ "${cli[0]}" != docker ] && command -v docker >/dev/null; then
  say "docker run --rm busybox echo hello from the docker CLI"
  docker run --rm busybox echo hello from the docker CLI
fi

say "${cli[0]##*/} build -t pier-demo: a two-stage Dockerfile"
demo=$(mktemp -d /tmp/pier-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
cat >"$demo/Dockerfile" <<'DOCKERFILE'
FROM busybox AS build
WORKDIR /out
RUN echo "built by pier's builder" > message
FROM busybox
COPY --from=build /out/message /message
CMD ["cat", "/message"]
DOCKERFILE
"${cli[@]}" build -t pier-demo "$demo"
"${cli[@]}" run --rm pier-demo

cat <<EOF

pierd is running (pid ${pid:-unknown}), serving the Docker API on $SOCK; its log: $LOG
Use it with the docker CLI:
  export DOCKER_HOST=$HOST
  docker run --rm -it busybox
Stop it (its containers keep running under conmon; the next pierd finds them):
  kill ${pid:-\$(cat $PIDFILE)}
EOF
