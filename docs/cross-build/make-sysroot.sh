#!/bin/bash
# Assemble a Debian 11 (bullseye) arm64 sysroot from Debian packages, without touching the
# host's apt configuration. Idempotent: re-running reuses the downloaded .debs and only
# re-extracts when the package set changed.
#
#   OUT=/tmp/cross-proto ./make-sysroot.sh
#
# Produces:
#   $OUT/sysroot/            extracted bullseye arm64 packages (+ relative symlink fixups)
#   $OUT/src/sentencepiece-0.1.97/, cpp-httplib-0.11.4+ds/   Debian source packages (patched by dpkg-source)
#   $OUT/sysroot.stamp       package list + versions that the sysroot was built from
set -euo pipefail
OUT=${OUT:-/tmp/cross-proto}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}   # bookworm's keyring holds the bullseye keys
SUITE=bullseye
# bullseye-security is off by default: on this network the security pool answers 404 for arm64
# .debs (its index is reachable, so apt would pick versions it then cannot fetch). The point
# release in bullseye main (glibc 2.31-13+deb11u11) has the same ABI. WITH_SECURITY=1 to add it.
WITH_SECURITY=${WITH_SECURITY:-0}
# Source packages come from bookworm: on this network bullseye's source files (sentencepiece_0.1.95*)
# answer 404, bookworm's (sentencepiece_0.1.97-3) are served. Compiled against the bullseye sysroot,
# so the result only needs what bullseye provides.
SRC_SUITE=${SRC_SUITE:-bookworm}
SYSROOT=$OUT/sysroot
APTDIR=$OUT/apt
DEBS=$APTDIR/cache/archives

# Binary packages extracted into the sysroot (arm64). Every one is explicit; nothing is resolved.
PACKAGES=(
  libc6 libc6-dev linux-libc-dev libcrypt1 libcrypt-dev libnsl2 libnsl-dev  # glibc 2.31 runtime + headers/crt*.o/.so links
  gcc-10-base libgcc-s1 libgcc-10-dev libatomic1                     # crtbegin*.o, libgcc.a, libgcc_eh.a (GCC 10.2.1)
  libstdc++6 libstdc++-10-dev                                        # libstdc++.a + headers (GCC 10: no __libc_single_threaded)
  nlohmann-json3-dev                                                 # header-only, for the engine later
)
# Not listed on purpose: libsentencepiece0/libsentencepiece-dev (bullseye 0.1.95) ship only the .so
# (Debian patches the static library out), and their 0.1.95 headers would shadow the 0.1.97 ones.
# Source package built into a static libsentencepiece.a by build-demo.sh
SRC_PACKAGES=(sentencepiece cpp-httplib)   # cpp-httplib: the full header-only httplib.h is only in the source (libcpp-httplib-dev ships a split header + .so)

for tool in apt-get dpkg-deb dpkg-source; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[ -r "$KEYRING" ] || { echo "missing $KEYRING (package debian-archive-keyring)" >&2; exit 1; }

mkdir -p "$APTDIR"/etc/sources.list.d "$APTDIR"/etc/preferences.d "$APTDIR"/state/lists/partial "$DEBS"/partial "$OUT"/src
[ -f "$APTDIR/state/status" ] || : > "$APTDIR/state/status"     # empty private dpkg status: nothing "installed"
cat > "$APTDIR/etc/sources.list.new" <<SRC
deb     [arch=arm64 signed-by=$KEYRING] $MIRROR $SUITE main
deb     [arch=arm64 signed-by=$KEYRING] $MIRROR $SUITE-updates main
$( [ "$WITH_SECURITY" = 1 ] && echo "deb     [arch=arm64 signed-by=$KEYRING] $SECURITY_MIRROR $SUITE-security main")
deb-src [signed-by=$KEYRING] $MIRROR $SRC_SUITE main
SRC

APT_OPTS=(
  -o Dir::Etc::SourceList="$APTDIR/etc/sources.list"
  -o Dir::Etc::SourceParts="$APTDIR/etc/sources.list.d"        # empty: ignore /etc/apt/sources.list.d
  -o Dir::Etc::Preferences="$APTDIR/etc/preferences"
  -o Dir::Etc::PreferencesParts="$APTDIR/etc/preferences.d"
  -o Dir::State="$APTDIR/state"
  -o Dir::State::Lists="$APTDIR/state/lists"
  -o Dir::State::status="$APTDIR/state/status"
  -o Dir::Cache="$APTDIR/cache"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Acquire::Languages=none
  -o APT::Sandbox::User=root                                   # we download into /tmp as root; silences the _apt warning
  -q
)
apt() { apt-get "${APT_OPTS[@]}" "$@"; }

# 1. indexes (refresh when the sources changed, else at most once a day)
if ! cmp -s "$APTDIR/etc/sources.list.new" "$APTDIR/etc/sources.list" \
   || [ -z "$(find "$APTDIR/state/lists" -maxdepth 1 -name '*InRelease' -mtime -1 2>/dev/null)" ]; then
  mv "$APTDIR/etc/sources.list.new" "$APTDIR/etc/sources.list"
  rm -f "$APTDIR"/state/lists/*_* 
  apt update
else
  rm -f "$APTDIR/etc/sources.list.new"
fi

# 2. binary .debs (apt-get download fetches the candidate = newest of bullseye/-updates/-security,
#    verified through the signed InRelease). URL pattern: $MIRROR/pool/main/<x>/<src>/<pkg>_<ver>_arm64.deb
#    or $SECURITY_MIRROR/pool/updates/main/... for security updates.
declare -A cand=()
while read -r p v; do cand[$p]=$v; done < <(apt-cache "${APT_OPTS[@]}" policy "${PACKAGES[@]}" \
  | awk '/^[^ ]/{p=$1; sub(/:$/,"",p); sub(/:arm64$/,"",p)} /Candidate:/{print p, $2}')
want=()
for p in "${PACKAGES[@]}"; do
  v=${cand[$p]:-}
  [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "no candidate for $p" >&2; exit 1; }
  want+=("$p=$v")
done
missing=()
for pv in "${want[@]}"; do
  p=${pv%%=*}; v=${pv#*=}
  [ -f "$DEBS/${p}_${v/:/%3a}_arm64.deb" ] || [ -f "$DEBS/${p}_${v/:/%3a}_all.deb" ] || missing+=("$pv")
done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$DEBS" && apt download "${missing[@]}")
fi

# drop .debs of packages/versions no longer wanted, so the cache is exactly the package set
for f in "$DEBS"/*.deb; do
  [ -e "$f" ] || continue
  keep=0; for pv in "${want[@]}"; do p=${pv%%=*}; v=${pv#*=}
    case "$(basename "$f")" in "${p}_${v/:/%3a}_arm64.deb"|"${p}_${v/:/%3a}_all.deb") keep=1;; esac; done
  [ $keep = 1 ] || rm -f "$f"
done

# 3. source package for the static sentencepiece (dsc + orig + debian tarballs, signature-checked by apt)
for s in "${SRC_PACKAGES[@]}"; do
  v=$(apt-cache "${APT_OPTS[@]}" showsrc "$s" | awk '/^Version:/{print $2; exit}')
  upv=${v%-*}
  if [ ! -d "$OUT/src/$s-$upv" ]; then
    (cd "$OUT/src" && apt source --download-only "$s=$v" && dpkg-source -x "${s}_${v}.dsc" "$s-$upv")   # applies debian/patches
  fi
done

# 4. extract into the sysroot (only if the package set changed)
stamp=$(printf '%s\n' "${want[@]}")
if [ ! -f "$OUT/sysroot.stamp" ] || [ "$(cat "$OUT/sysroot.stamp")" != "$stamp" ]; then
  rm -rf "$SYSROOT.tmp"; mkdir -p "$SYSROOT.tmp"
  for pv in "${want[@]}"; do
    p=${pv%%=*}; v=${pv#*=}
    f=; for c in "$DEBS/${p}_${v/:/%3a}_arm64.deb" "$DEBS/${p}_${v/:/%3a}_all.deb"; do [ -f "$c" ] && f=$c; done
    dpkg-deb -x "$f" "$SYSROOT.tmp"
  done
  rm -rf "$SYSROOT.tmp/usr/share/doc" "$SYSROOT.tmp/usr/share/man" "$SYSROOT.tmp/usr/share/lintian"
  # absolute symlinks (e.g. usr/lib/aarch64-linux-gnu/libfoo.so -> /lib/aarch64-linux-gnu/libfoo.so.N)
  # would point into the HOST; rewrite them relative to the sysroot.
  find "$SYSROOT.tmp" -type l -lname '/*' | while read -r l; do
    t=$(readlink "$l"); rel=$(realpath -m --relative-to="$(dirname "$l")" "$SYSROOT.tmp$t")
    ln -sfn "$rel" "$l"
  done
  rm -rf "$SYSROOT"; mv "$SYSROOT.tmp" "$SYSROOT"
  echo "$stamp" > "$OUT/sysroot.stamp"
fi
echo "sysroot: $SYSROOT ($(du -sh "$SYSROOT" | cut -f1)), debs: $(du -shc "$DEBS"/*.deb | tail -1 | cut -f1)"
printf '  %s\n' "${want[@]}"
