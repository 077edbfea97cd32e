#!/bin/bash
# Makes `-lssh`, `-lcrypto` and `-lfdt` pick Debian's static archives, so the installable binary carries libssh
# 0.10 and OpenSSL 3 inside (Debian 11 and Ubuntu 20.04 have neither libssh 0.10 nor libcrypto.so.3). DIR gets
# a linker script per library, and DIR/pkgconfig a libssh.pc and libcrypto.pc whose -L names DIR: SwiftPM puts
# the -L of a pkg-config file ahead of /usr/lib/<triplet>, where a plain `-Xlinker -L` would come too late.
#   Packaging/static-link.sh DIR     then: PKG_CONFIG_PATH=DIR/pkgconfig swift build …
set -euo pipefail
DIR=$(mkdir -p "$1" && cd "$1" && pwd)
LIB=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
[ -d "$LIB" ] || LIB=/usr/lib/x86_64-linux-gnu
for a in libssh.a libcrypto.a libfdt.a libgssapi_krb5.so.2 libz.so.1; do
  [ -e "$LIB/$a" ] || { echo "static-link: $LIB/$a missing (packages libssh-dev, libssl-dev, libfdt-dev)" >&2; exit 1; }
done
mkdir -p "$DIR/pkgconfig"
# libssh needs libcrypto (static too), zlib and GSSAPI (dynamic: libgssapi-krb5-2 and zlib1g are on every
# release; named by file, as no -dev package is needed for them).
echo "GROUP ( $LIB/libssh.a $LIB/libcrypto.a $LIB/libgssapi_krb5.so.2 $LIB/libz.so.1 )" > "$DIR/libssh.so"
echo "GROUP ( $LIB/libcrypto.a $LIB/libz.so.1 )" > "$DIR/libcrypto.so"
echo "INPUT ( $LIB/libfdt.a )" > "$DIR/libfdt.so"
for pc in libssh libcrypto; do
  sed -e "s|^libdir=.*|libdir=$DIR|" "$LIB/pkgconfig/$pc.pc" > "$DIR/pkgconfig/$pc.pc"
done
