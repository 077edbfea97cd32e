#!/bin/bash
# Makes (once) the Debian 11 (bullseye) amd64 sysroot the installable binary is linked against, so that it needs
# glibc 2.31 at most (Debian 11, Ubuntu 20.04) whatever glibc the build host has: its crt*.o, libc.so.6 and
# libc_nonshared.a, libm, libpthread, GCC 10's libstdc++ and libgcc, and the libraries the binary keeps dynamic
# (libgssapi_krb5.so.2, libz.so.1). debootstrap from Debian's mirror, cached outside the clone (default
# /var/cache/tpudeploy/sysroots/bullseye-amd64, beside the test chroots) so that a fresh CI clone finds it warm;
# prints its path. Remade when the package list below changes; concurrent runs wait on a lock.
#   Packaging/make-sysroot.sh [DIR]      (as root: debootstrap)
set -euo pipefail
DIR=${1:-${SYSROOT:-/var/cache/tpudeploy/sysroots/bullseye-amd64}}
SUITE=bullseye
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}   # bookworm's keyring holds 11's keys
# libc6-dev: crt1.o, libc.so (with libc_nonshared.a, which holds 2.31's stat/fstat/lstat for objects built
# against newer headers); libstdc++-10-dev/libgcc-10-dev: what clang's driver finds as the GCC installation;
# libgssapi-krb5-2, zlib1g-dev: the shared libraries libssh's static archive still calls.
INCLUDE=libc6-dev,libstdc++-10-dev,libgcc-10-dev,libgssapi-krb5-2,zlib1g-dev
REQUEST="$SUITE amd64 $INCLUDE layout 1"
command -v debootstrap >/dev/null || { echo "make-sysroot: debootstrap missing (make setup installs it)" >&2; exit 1; }
mkdir -p "$(dirname "$DIR")"
exec 8>"$DIR.lock"; flock 8
if [ "$(cat "$DIR/.complete" 2>/dev/null)" != "$REQUEST" ]; then
  rm -rf "$DIR" "$DIR.partial"
  start=$(date +%s)
  debootstrap --arch=amd64 --variant=minbase --include="$INCLUDE" --keyring="$KEYRING" "$SUITE" "$DIR.partial" "$MIRROR" \
    > "$DIR.log" 2>&1 || { echo "make-sysroot: debootstrap $SUITE failed; see $DIR.log" >&2; exit 1; }
  # Absolute symlinks (libm.so -> /lib/x86_64-linux-gnu/libm.so.6, …) would lead the linker into this host's
  # newer glibc: make them relative to the sysroot. glibc's linker scripts (libc.so, libm.so) name absolute
  # paths too; ld resolves those inside --sysroot, so they stay.
  find "$DIR.partial" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
    t=$(readlink "$l"); ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$DIR.partial$t")" "$l"
  done
  rm -rf "$DIR.partial"/var/cache/apt/archives/*.deb "$DIR.partial"/var/lib/apt/lists/*_* "$DIR.partial"/usr/share/{doc,man,locale}
  mv "$DIR.partial" "$DIR"
  echo "$REQUEST" > "$DIR/.complete"
  echo "make-sysroot: made $DIR in $(( $(date +%s) - start )) s" >&2
fi
echo "$DIR"
