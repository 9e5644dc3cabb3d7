#!/usr/bin/env bash
# setup.sh: make this checkout ready to run and test pier. Idempotent; quiet when there is
# nothing to do, one line per action taken, the failing command's output when one fails.
#   1. the Debian packages of every list in deps/debian/*.txt (apt-get update only when one
#      is missing; installing needs root),
#   2. node_modules from package-lock.json (npm ci, only when not installed from this lock),
#   3. the build (npm run build: tsc into dist/),
#   4. a check that the docker CLI the integration tests drive is there (a warning if not).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
out=$(mktemp /tmp/pier-setup.XXXXXX)
trap 'rm -f "$out"' EXIT
# run WHAT CMD...: run CMD with its output kept aside; on failure show it and stop.
run() {
  local what=$1; shift
  if ! "$@" >"$out" 2>&1; then
    say "FAILED: $what ($*)"
    tail -n 80 "$out" >&2
    exit 1
  fi
}

# 1. Debian packages: every word before a '#' in deps/debian/*.txt names one.
mapfile -t wanted < <(sed -e 's/#.*//' deps/debian/*.txt | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
mapfile -t installed < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null |
  awk '$1 == "ii" { print $2 }' | sort -u)
mapfile -t missing < <(comm -23 <(printf '%s\n' "${wanted[@]}") <(printf '%s\n' "${installed[@]}"))
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "Debian packages missing: ${missing[*]}; run this script as root to install them"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run "apt-get update" apt-get -o DPkg::Lock::Timeout=300 update -q
  run "apt-get install" apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. npm packages: `npm ci` when node_modules was not installed from this very lock file
# (a stamp holds the lock file's hash; file ages lie after a checkout), taking the packages from
# npm's cache where it has them. A node_modules that is a link (a git worktree borrowing another
# checkout's) is left alone: npm ci would empty the folder it points to.
command -v node >/dev/null || { say "node is not installed (pier needs Node 20.19 or newer)"; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  { say "Node $(node --version) is too old: pier needs Node 20.19 or newer"; exit 1; }
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ]; then
  say "node_modules is a link: not reinstalling it"
elif [ ! -f node_modules/.pier-lock-sha256 ] || [ "$(cat node_modules/.pier-lock-sha256)" != "$lock_hash" ]; then
  say "installing npm packages (npm ci)"
  run "npm ci" npm ci --no-audit --no-fund --prefer-offline
  echo "$lock_hash" >node_modules/.pier-lock-sha256
fi

# 3. Build (incremental: quick when nothing changed).
run "npm run build" npm run build

# 4. The integration tests drive the real docker CLI (preinstalled, not a Debian package here).
if ! command -v docker >/dev/null && [ ! -x /usr/local/bin/docker ]; then
  say "warning: no docker CLI on PATH or at /usr/local/bin/docker: the integration tests need it"
fi
