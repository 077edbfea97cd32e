#!/bin/bash
# Writes linker scripts that make `-lssh`, `-lcrypto` and `-lfdt` pick Debian's static archives, so the .deb's
# binary carries libssh 0.10 and OpenSSL 3 inside: Debian 11 and Ubuntu 20.04 have neither libssh 0.10 nor
# libcrypto.so.3. Passed to the link as `-L DIR` ahead of the system directories.
#   Packaging/static-link.sh DIR
set -euo pipefail
DIR=$1
LIB=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
[ -d "$LIB" ] || LIB=/usr/lib/x86_64-linux-gnu
for a in libssh.a libcrypto.a libfdt.a; do
  [ -f "$LIB/$a" ] || { echo "static-link: $LIB/$a missing (packages libssh-dev, libssl-dev, libfdt-dev)" >&2; exit 1; }
done
mkdir -p "$DIR"
# libssh needs libcrypto (static too), zlib and GSSAPI (dynamic: libgssapi-krb5-2 and zlib1g are on every release).
echo "GROUP ( $LIB/libssh.a $LIB/libcrypto.a ) INPUT ( -lgssapi_krb5 -lz )" > "$DIR/libssh.so"
echo "GROUP ( $LIB/libcrypto.a ) INPUT ( -lz )" > "$DIR/libcrypto.so"
echo "INPUT ( $LIB/libfdt.a )" > "$DIR/libfdt.so"
