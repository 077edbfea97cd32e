#!/bin/bash
# Prepares the link of the installable binary against SYSROOT (Packaging/make-sysroot.sh: Debian 11, glibc 2.31):
# - `-lssh`, `-lcrypto` and `-lfdt` pick this host's static archives, so the binary carries libssh 0.10 and
#   OpenSSL 3 inside (Debian 11 and Ubuntu 20.04 have neither libssh 0.10 nor libcrypto.so.3). DIR gets a linker
#   script per library, and DIR/pkgconfig a libssh.pc and libcrypto.pc whose -L names DIR: SwiftPM puts the -L of
#   a pkg-config file ahead of the system's, where a plain `-Xlinker -L` would come too late. What libssh still
#   needs dynamically (GSSAPI, zlib) is SYSROOT's, so the symbol versions bound are ones Debian 11 has.
# - DIR/libstdcxx-compat.o (Packaging/libstdcxx-compat.cpp): the one libstdc++ function the Swift runtime needs
#   that GCC 10's libstdc++ lacks.
# The archives were built against this host's glibc headers; linked against SYSROOT's libc.so (with its
# libc_nonshared.a) their calls bind to 2.31's symbol versions. `make release` checks the result.
#   Packaging/static-link.sh DIR SYSROOT   then: PKG_CONFIG_PATH=DIR/pkgconfig swift build … (Makefile: release)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$(mkdir -p "$1" && cd "$1" && pwd)
SYSROOT=$2
TRIPLET=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
LIB=/usr/lib/$TRIPLET
[ -d "$LIB" ] || LIB=/usr/lib/x86_64-linux-gnu
SLIB=$SYSROOT/usr/lib/x86_64-linux-gnu
for a in libssh.a libcrypto.a libfdt.a; do
  [ -e "$LIB/$a" ] || { echo "static-link: $LIB/$a missing (packages libssh-dev, libssl-dev, libfdt-dev)" >&2; exit 1; }
done
for a in libgssapi_krb5.so.2 libz.so.1; do
  [ -e "$SLIB/$a" ] || { echo "static-link: $SLIB/$a missing (run Packaging/make-sysroot.sh)" >&2; exit 1; }
done
CLANGXX=/opt/swift/usr/bin/clang++
[ -x "$CLANGXX" ] || CLANGXX=$(dirname "$(readlink -f "$(command -v swift)")")/clang++
mkdir -p "$DIR/pkgconfig"
# libssh needs libcrypto (static too), zlib and GSSAPI (dynamic: libgssapi-krb5-2 and zlib1g are on every
# release; named by file, as no -dev package is needed for them).
echo "GROUP ( $LIB/libssh.a $LIB/libcrypto.a $SLIB/libgssapi_krb5.so.2 $SLIB/libz.so.1 )" > "$DIR/libssh.so"
echo "GROUP ( $LIB/libcrypto.a $SLIB/libz.so.1 )" > "$DIR/libcrypto.so"
echo "INPUT ( $LIB/libfdt.a )" > "$DIR/libfdt.so"
for pc in libssh libcrypto; do
  sed -e "s|^libdir=.*|libdir=$DIR|" "$LIB/pkgconfig/$pc.pc" > "$DIR/pkgconfig/$pc.pc"
done
"$CLANGXX" --sysroot="$SYSROOT" -O2 -fPIC -std=c++17 -c "$REPO/Packaging/libstdcxx-compat.cpp" -o "$DIR/libstdcxx-compat.o"
