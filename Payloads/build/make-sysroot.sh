#!/bin/bash
# Assemble the Debian 11 (bullseye) arm64 sysroot the aarch64 engine is built against: glibc 2.31 (what the
# boards' Ubuntu 20.04 has), GCC 10's libstdc++/libgcc (linked statically), nlohmann-json; plus the Debian
# source packages built into the engine (sentencepiece, header-only cpp-httplib).
#
#   Payloads/build/make-sysroot.sh            (SYSROOT=… to put it elsewhere; REFRESH=1 to re-read the indexes)
#
# Everything comes from Debian through a private apt state; the host's apt configuration is never touched.
# Layout (build/ is not committed; CI caches it):
#   build/aarch64-sysroot/                    the extracted arm64 packages: the --sysroot of the compiler and
#                                             the -L root of qemu-aarch64
#   build/aarch64-sysroot/var/tpudeploy/apt/  private apt state, indexes and the downloaded .debs/sources
#   build/aarch64-sysroot/var/tpudeploy/src/  unpacked source packages (Debian patches applied)
#   build/aarch64-sysroot/var/tpudeploy/stamp what the sysroot was built from
# Idempotent: a re-run whose package set and sources are unchanged does nothing (no network).
#
# Host tools: apt-get, dpkg-deb, dpkg-source (dpkg-dev), debian-archive-keyring, xz-utils.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SYSROOT=${SYSROOT:-$REPO/build/aarch64-sysroot}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}   # bookworm's keyring holds bullseye's keys
SUITE=bullseye
# Source packages come from bookworm: this network serves no bullseye source files (404), bookworm's are
# served. They are compiled against the bullseye sysroot, so the result needs only what bullseye provides.
SRC_SUITE=${SRC_SUITE:-bookworm}
# bullseye-security is left out: this network answers 404 for its arm64 .debs while its index is reachable
# (apt would pick versions it then cannot fetch). bullseye's last point release has the same glibc ABI.

# Binary packages extracted into the sysroot (arm64). Every one is explicit; nothing is resolved.
PACKAGES=(
  libc6 libc6-dev linux-libc-dev libcrypt1 libcrypt-dev libnsl2 libnsl-dev  # glibc 2.31 runtime, headers, crt*.o
  gcc-10-base libgcc-s1 libgcc-10-dev libatomic1                           # crtbegin*.o, libgcc.a, libgcc_eh.a
  libstdc++6 libstdc++-10-dev                                              # libstdc++.a + headers (GCC 10.2)
  nlohmann-json3-dev                                                       # header-only JSON for the server
)
# Not listed on purpose: bullseye's libsentencepiece-dev ships no static library, and its 0.1.95 headers
# would shadow the sources' own. Bookworm's GCC 12 libstdc++ needs glibc 2.32+ symbols: unusable.
# Source packages: sentencepiece (built into a static library by build-aarch64.sh) and cpp-httplib (its
# header-only httplib.h; Debian's libcpp-httplib-dev ships the split header + .so).
SRC_PACKAGES=(sentencepiece cpp-httplib)

STATE=$SYSROOT/var/tpudeploy
APTDIR=$STATE/apt
DEBS=$APTDIR/cache/archives
SRCDIR=$STATE/src

sources_list() {
  echo "deb     [arch=arm64 signed-by=$KEYRING] $MIRROR $SUITE main"
  echo "deb     [arch=arm64 signed-by=$KEYRING] $MIRROR $SUITE-updates main"
  echo "deb-src [signed-by=$KEYRING] $MIRROR $SRC_SUITE main"
}
# What the sysroot depends on: the package names, the sources and this script's layout version.
request=$(printf 'layout 1\n'; sources_list; printf 'pkg %s\n' "${PACKAGES[@]}"; printf 'src %s\n' "${SRC_PACKAGES[@]}")

summary() {
  local libc; libc=$(sed -n 's/^libc6=//p' "$STATE/stamp")
  echo "sysroot: $SYSROOT ($(du -sh --exclude=var/tpudeploy "$SYSROOT" | cut -f1), libc6 $libc;" \
       "downloads $(du -sh "$APTDIR/cache" | cut -f1); sources: $(cd "$SRCDIR" && echo */ | tr -d /))"
}

# Fast path: nothing changed since the last complete run.
if [ "${REFRESH:-0}" != 1 ] && [ -f "$STATE/request" ] && [ -f "$STATE/stamp" ] \
   && [ "$(cat "$STATE/request")" = "$request" ] && grep -q '^libc6=' "$STATE/stamp" \
   && [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  summary; exit 0
fi

for tool in apt-get apt-cache dpkg-deb dpkg-source xz; do
  command -v $tool >/dev/null || { echo "make-sysroot: missing $tool (run \`make setup\`)" >&2; exit 1; }
done
[ -r "$KEYRING" ] || { echo "make-sysroot: missing $KEYRING (package debian-archive-keyring)" >&2; exit 1; }

mkdir -p "$APTDIR"/etc/sources.list.d "$APTDIR"/etc/preferences.d "$APTDIR"/state/lists/partial \
         "$DEBS"/partial "$SRCDIR"
[ -f "$APTDIR/state/status" ] || : > "$APTDIR/state/status"     # empty private dpkg status: nothing installed
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
  -o APT::Sandbox::User=root                                   # files owned by root under build/: no _apt user
  -o Acquire::Retries=3
  -q
)
apt_() { apt-get "${APT_OPTS[@]}" "$@"; }

# 1. indexes: when the sources changed, on REFRESH=1, or when there are none yet
sources_list > "$APTDIR/etc/sources.list.new"
if [ "${REFRESH:-0}" = 1 ] || ! cmp -s "$APTDIR/etc/sources.list.new" "$APTDIR/etc/sources.list" \
   || ! ls "$APTDIR"/state/lists/*InRelease >/dev/null 2>&1; then
  mv "$APTDIR/etc/sources.list.new" "$APTDIR/etc/sources.list"
  rm -f "$APTDIR"/state/lists/*_*
  apt_ update >/dev/null
else
  rm -f "$APTDIR/etc/sources.list.new"
fi

# 2. binary .debs: the candidate of bullseye/-updates, checked against the signed InRelease by apt
declare -A cand=()
while read -r p v; do cand[$p]=$v; done < <(apt-cache "${APT_OPTS[@]}" policy "${PACKAGES[@]}" \
  | awk '/^[^ ]/{p=$1; sub(/:$/,"",p); sub(/:arm64$/,"",p)} /Candidate:/{print p, $2}')
want=()
for p in "${PACKAGES[@]}"; do
  v=${cand[$p]:-}
  [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "make-sysroot: no bullseye arm64 candidate for $p" >&2; exit 1; }
  want+=("$p=$v")
done
deb_of() {   # the downloaded file of package=version, or nothing
  local p=${1%%=*} v=${1#*=} c
  for c in "$DEBS/${p}_${v/:/%3a}_arm64.deb" "$DEBS/${p}_${v/:/%3a}_all.deb"; do [ -f "$c" ] && echo "$c"; done; true
}
missing=()
for pv in "${want[@]}"; do [ -n "$(deb_of "$pv")" ] || missing+=("$pv"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make-sysroot: downloading ${#missing[@]} arm64 packages from $SUITE"
  (cd "$DEBS" && apt_ download "${missing[@]}" >/dev/null)
fi
# keep the cache exactly the package set (drops superseded versions)
for f in "$DEBS"/*.deb; do
  [ -e "$f" ] || continue
  keep=0; for pv in "${want[@]}"; do [ "$(deb_of "$pv")" = "$f" ] && keep=1; done
  [ $keep = 1 ] || rm -f "$f"
done

# 3. source packages (checksums verified by apt against the signed Sources index; Debian patches applied)
srcs=()
for s in "${SRC_PACKAGES[@]}"; do
  v=$(apt-cache "${APT_OPTS[@]}" showsrc "$s" | awk '/^Version:/{print $2}' | sort -V | tail -1)
  [ -n "$v" ] || { echo "make-sysroot: no $SRC_SUITE source for $s" >&2; exit 1; }
  upv=${v#*:}; upv=${upv%-*}
  srcs+=("src:$s=$v")
  if [ ! -f "$SRCDIR/$s-$upv/.unpacked-$v" ]; then
    echo "make-sysroot: fetching source $s $v from $SRC_SUITE"
    rm -rf "$SRCDIR/$s-$upv" "$SRCDIR/.dl"; mkdir -p "$SRCDIR/.dl"
    (cd "$SRCDIR/.dl" && apt_ source --download-only "$s=$v" >/dev/null \
      && dpkg-source -x "${s}_${v#*:}.dsc" "../$s-$upv" >/dev/null 2>&1)
    rm -rf "$SRCDIR/.dl" "$SRCDIR"/*.tar.*     # dpkg-source leaves the orig tarball beside the tree
    # test corpora and bindings are not built: keep the cache small (sentencepiece's data/ is 50 MB)
    rm -rf "$SRCDIR/$s-$upv"/{data,python,doc,test,example,.pc}
    touch "$SRCDIR/$s-$upv/.unpacked-$v"
  fi
done
# drop source trees no longer wanted
for d in "$SRCDIR"/*/; do
  [ -d "$d" ] || continue
  keep=0; for sv in "${srcs[@]}"; do s=${sv#src:}; s=${s%%=*}; v=${sv#*=}; upv=${v#*:}; upv=${upv%-*}
    [ "${d%/}" = "$SRCDIR/$s-$upv" ] && keep=1; done
  [ $keep = 1 ] || rm -rf "$d"
done

# 4. extract into the sysroot (only when the package set changed). Everything but var/tpudeploy is replaced.
stamp=$(printf '%s\n' "${want[@]}" "${srcs[@]}")
if [ ! -f "$STATE/stamp" ] || [ "$(cat "$STATE/stamp")" != "$stamp" ] || [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  echo "make-sysroot: extracting ${#want[@]} packages"
  new=$SYSROOT/.new; rm -rf "$new"; mkdir -p "$new"
  for pv in "${want[@]}"; do dpkg-deb -x "$(deb_of "$pv")" "$new"; done
  rm -rf "$new/usr/share/doc" "$new/usr/share/man" "$new/usr/share/lintian" "$new/usr/share/locale" "$new/usr/share/info"
  # absolute symlinks (lib/ld-linux-aarch64.so.1 -> /lib/aarch64-linux-gnu/ld-2.31.so, usr/lib/…/libm.so -> /lib/…)
  # would point into the host: make them relative to the sysroot.
  find "$new" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
    t=$(readlink "$l"); ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$new$t")" "$l"
  done
  # glibc's linker scripts (libc.so, libm.so, libpthread.so) name absolute paths; the compiler driver and lld
  # resolve them inside --sysroot, so they stay as Debian ships them.
  find "$SYSROOT" -mindepth 1 -maxdepth 1 ! -name var ! -name .new -exec rm -rf {} +
  find "$SYSROOT/var" -mindepth 1 -maxdepth 1 ! -name tpudeploy -exec rm -rf {} + 2>/dev/null || true
  (cd "$new" && find . -mindepth 1 -maxdepth 1 -print0 | while IFS= read -r -d '' e; do
    if [ "$e" = ./var ]; then cp -a "$e/." "$SYSROOT/var/"; else mv "$e" "$SYSROOT/"; fi
  done)
  rm -rf "$new"
  echo "$stamp" > "$STATE/stamp"
fi
echo "$request" > "$STATE/request"
# The indexes (36 MB) are needed again only when the package set changes (then they are fetched anew):
# drop them so that the cached build/ stays small.
rm -f "$APTDIR"/state/lists/*_*
summary
