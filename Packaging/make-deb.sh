#!/bin/bash
# Builds build/tpudeploy_<version>_amd64.deb from a release binary linked with -static-stdlib and libssh,
# libcrypto and libfdt static against the Debian 11 sysroot (Packaging/make-sysroot.sh, static-link.sh): it must
# need glibc 2.31 at most (Debian 11, Ubuntu 20.04). Depends are computed by dpkg-shlibdeps from what the binary
# still needs (glibc, libstdc++, GSSAPI, zlib), with the sysroot's symbols files, so they name versions Debian 11
# has, and must all be on Debian 11/12/13 and Ubuntu 20.04+.
#   Packaging/make-deb.sh BINARY OUTPUT_DIR SYSROOT
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(readlink -f "$1") OUT=$(readlink -f "$2") SYSROOT=$3
MAX_GLIBC=2.31
MAINTAINER=${MAINTAINER:-tpudeploy maintainers <tpudeploy@users.noreply.github.com>}
VERSION=$("$BIN" --version)
ARCH=$(dpkg --print-architecture)
WORK=$OUT/deb
PKG=$WORK/root
rm -rf "$WORK"; mkdir -p "$PKG/DEBIAN"

# Nothing from the Swift toolchain may be needed at run time: a user's PC has no /opt/swift.
# (swiftc leaves a RUNPATH of $ORIGIN alone: /usr/bin holds no libraries, so it finds nothing there.)
if readelf -d "$BIN" | grep -E 'NEEDED.*libswift|NEEDED.*libFoundation|NEEDED.*libdispatch|PATH.*/opt/swift'; then
  echo "make-deb: $BIN still needs the Swift runtime (build with --static-swift-stdlib, no rpath)" >&2; exit 1
fi
if readelf -d "$BIN" | grep -E 'NEEDED.*(libssh|libcrypto|libfdt)'; then
  echo "make-deb: $BIN links libssh/libcrypto/libfdt dynamically (Packaging/static-link.sh not used)" >&2; exit 1
fi

"$REPO/Packaging/stage.sh" "$BIN" "$PKG" /usr static
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$PKG/usr/bin/tpudeploy"
"$REPO/Payloads/build/check-glibc.sh" "$PKG/usr/bin" "$MAX_GLIBC" > "$WORK/check-glibc.log" \
  || { cat "$WORK/check-glibc.log" >&2; echo "make-deb: $BIN was not linked against the Debian 11 sysroot (make release)" >&2; exit 1; }
install -d "$PKG/usr/share/lintian/overrides"
install -m 0644 "$REPO/Packaging/lintian-overrides" "$PKG/usr/share/lintian/overrides/tpudeploy"
{
  echo "tpudeploy ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Release $VERSION, built from commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo " -- $MAINTAINER  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$PKG/usr/share/doc/tpudeploy/changelog.gz"
chmod 0644 "$PKG/usr/share/doc/tpudeploy/changelog.gz"

# A native package (no Debian revision) keeps its changelog as changelog.gz.
# dpkg-shlibdeps reads a debian/control; give it a minimal one in a scratch tree. The libraries and their
# symbols files are the sysroot's, not this host's: bookworm's libc6.symbols says 2.34 for pthread_create and
# the rest that moved into libc.so.6 then, which the binary (linked against 2.31's libpthread) does not need.
# -S takes a package build tree: the sysroot's lib directories under a DEBIAN/ with its symbols and shlibs.
mkdir -p "$WORK/src/debian" "$WORK/sysroot-libs/DEBIAN"
printf 'Source: tpudeploy\n\nPackage: tpudeploy\nArchitecture: any\n' > "$WORK/src/debian/control"
ln -s "$SYSROOT/usr" "$WORK/sysroot-libs/usr"; ln -s usr/lib "$WORK/sysroot-libs/lib"
cat "$SYSROOT"/var/lib/dpkg/info/*.symbols > "$WORK/sysroot-libs/DEBIAN/symbols"
cat "$SYSROOT"/var/lib/dpkg/info/*.shlibs > "$WORK/sysroot-libs/DEBIAN/shlibs"
# (its warning that libutil.so.1 is linked for nothing: Foundation asks for -lutil, which the binary never calls)
DEPENDS=$(cd "$WORK/src" && dpkg-shlibdeps -O -S"$WORK/sysroot-libs" "$PKG/usr/bin/tpudeploy" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: tpudeploy
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $SIZE
Depends: $DEPENDS
Recommends: openssh-client
Section: devel
Priority: optional
Homepage: https://github.com/tpudeploy/tpudeploy
Description: provision Sophgo BM1684X boards and serve LLMs on them
 tpudeploy fixes a BM1684X board's memory layout (fix-memory), pushes a bmodel,
 its tokenizer and the board's engine over SSH (push), runs the engine as a
 service (launch) and talks to it (chat, verify). Profiles for the EVB, SE7,
 SM7 and AirBox boards and the engine built for the boards (aarch64, glibc
 2.31) are included.
CONTROL
(cd "$PKG" && find usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/md5sums"
DEB=$OUT/tpudeploy_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
