#!/usr/bin/env bash
# busybox-rootfs.sh [OUT]: write a busybox root filesystem as a tar (an image layer) to OUT, or to
# stdout. Made from Debian's static busybox (busybox-static): bin/busybox, a relative symlink for
# every applet at the path `busybox --list-full` gives, a minimal etc/ (root, www-data, nobody),
# and the usual empty directories. Deterministic: entries sorted by name, owned by 0:0, mtime 0,
# fixed modes, so one busybox binary always gives the same bytes, hence the same layer digest.
#   scripts/busybox-rootfs.sh | docker import -c 'CMD ["sh"]' - busybox:latest
set -euo pipefail
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "busybox-rootfs.sh: $BUSYBOX is missing (Debian package busybox-static)" >&2; exit 1; }
if ! "$BUSYBOX" --list-full >/dev/null 2>&1; then
  echo "busybox-rootfs.sh: $BUSYBOX has no --list-full (is it the static build?)" >&2
  exit 1
fi

out=
if [ $# -ge 1 ] && [ "$1" != - ]; then out=$(readlink -f "$1"); fi
stage=$(mktemp -d /tmp/pier-busybox.XXXXXX)
trap 'rm -rf "$stage"; [ -z "$out" ] || rm -f "$out.tmp.$$"' EXIT
umask 022
cd "$stage"

mkdir -p bin sbin usr/bin usr/sbin etc root home tmp var/tmp var/www proc sys dev
install -m 0755 "$BUSYBOX" bin/busybox
"$BUSYBOX" --list-full | while read -r applet; do
  case "$applet" in
    bin/busybox | */*/*/* | "") continue ;;  # busybox itself; nothing is nested deeper than usr/bin
    */*) ;;
    *) continue ;;                            # top-level linuxrc: not wanted in a container image
  esac
  case "${applet%/*}" in
    bin) ln -sfn busybox "$applet" ;;
    */*) ln -sfn ../../bin/busybox "$applet" ;;
    *) ln -sfn ../bin/busybox "$applet" ;;
  esac
done

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
nobody:x:65534:
EOF
cat >etc/shadow <<'EOF'
root:*:0:0:99999:7:::
daemon:*:0:0:99999:7:::
www-data:*:0:0:99999:7:::
nobody:*:0:0:99999:7:::
EOF
chmod 0644 etc/passwd etc/group
chmod 0640 etc/shadow
chmod 0700 root
chmod 1777 tmp var/tmp

# top-level names sorted, no "./" prefix (as Docker's own layers have it)
mapfile -t top < <(LC_ALL=C ls -A | LC_ALL=C sort)
tar_args=(--create --format=gnu --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0
  --no-acls --no-xattrs --no-selinux --file=-)
if [ -n "$out" ]; then
  LC_ALL=C tar "${tar_args[@]}" "${top[@]}" >"$out.tmp.$$"
  mv -f "$out.tmp.$$" "$out"
else
  LC_ALL=C tar "${tar_args[@]}" "${top[@]}"
fi
