#!/bin/bash
# Makes (once) a minimal Debian chroot of SUITE with debootstrap from Debian's mirror, cached in CHROOT_CACHE
# (default /var/cache/tpudeploy/chroots: outside the clone, so a fresh CI clone on this machine finds it warm),
# and prints its path. A cache entry is complete only once `.complete` is written; concurrent runs wait on a lock.
#   Tests/Packaging/chroot.sh SUITE      (bullseye, bookworm, trixie)
set -euo pipefail
SUITE=$1
CACHE=${CHROOT_CACHE:-/var/cache/tpudeploy/chroots}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}   # bookworm's keyring holds 11's and 13's keys
DIR=$CACHE/$SUITE
command -v debootstrap >/dev/null || { echo "chroot.sh: debootstrap missing (make setup installs it)" >&2; exit 1; }
mkdir -p "$CACHE"
exec 8>"$CACHE/$SUITE.lock"; flock 8
if [ ! -f "$DIR/.complete" ]; then
  rm -rf "$DIR" "$DIR.partial"
  start=$(date +%s)
  debootstrap --variant=minbase --keyring="$KEYRING" "$SUITE" "$DIR.partial" "$MIRROR" > "$CACHE/$SUITE.log" 2>&1 \
    || { echo "chroot.sh: debootstrap $SUITE failed; see $CACHE/$SUITE.log" >&2; exit 1; }
  # apt inside the chroot fetches the package's Depends from the same mirror.
  echo "deb $MIRROR $SUITE main" > "$DIR.partial/etc/apt/sources.list"
  cp /etc/resolv.conf "$DIR.partial/etc/resolv.conf"
  mv "$DIR.partial" "$DIR"
  echo "$(( $(date +%s) - start ))" > "$DIR/.complete"
  echo "chroot.sh: made $SUITE in $(cat "$DIR/.complete") s" >&2
fi
echo "$DIR"
