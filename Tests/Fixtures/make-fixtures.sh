#!/usr/bin/env bash
# Builds the boot-image fixtures the DeviceTree/BootImage/MemoryLayout tests read, into Tests/Fixtures/build/
# (gitignored). Every image comes from the project's one FIT recipe (build-boot-image.sh, U-Boot's mkimage and
# dtc); the broken ones are made from the good ones with dtc's fdtput, mkimage and coreutils, so each defect is
# visible in this file. The tests run this script when build/ is missing or older than its inputs.
#
# usage: make-fixtures.sh [OUT_DIR]    (default: the build/ directory beside this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
recipe="$repo/Sources/TPUDeploySimulator/Resources/boot/build-boot-image.sh"
out="${1:-$here/build}"
for tool in dtc fdtput fdtget mkimage dumpimage openssl xxd; do
	command -v "$tool" >/dev/null || { echo "make-fixtures: $tool not found (run: make setup)" >&2; exit 3; }
done

# Build into a scratch directory and swap it in at the end, so a failed run never leaves half a fixture set.
tmp="$(mktemp -d "${out%/}.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The two good images: a 16 GB EVB and a 12 GB SE7, small payloads so the tests stay fast.
bash "$recipe" --out "$tmp/fit-16g" --board bm1684x_evb_v0.0 --ram 16g --kernel-kib 256 --ramdisk-kib 256 >/dev/null
bash "$recipe" --out "$tmp/fit-12g" --board bm1684x_se7_v1_12g --ram 12g --kernel-kib 256 --ramdisk-kib 256 >/dev/null
# The vendor family: every board dtb of Resources/boot/boards with its own factory layout (as `sim up` boots).
bash "$recipe" --out "$tmp/fit-vendor" --family vendor --board bm1684x_sm7_airbox --ram 16g --kernel-kib 64 --ramdisk-kib 64 >/dev/null
good="$tmp/fit-16g/emmcboot.itb"

mkdir -p "$tmp/external" "$tmp/bad"
# External data (mkimage -E): blobs after the tree, found by data-offset (from the tree's end rounded up to 4)...
cp "$good" "$tmp/external/data-offset.itb"
mkimage -E -F "$tmp/external/data-offset.itb" >/dev/null
# ...or by data-position (absolute file offset) when a position is asked for with -p.
cp "$good" "$tmp/external/data-position.itb"
mkimage -E -p 0x1000 -F "$tmp/external/data-position.itb" >/dev/null

totalsize() { xxd -s 4 -l 4 -p "$1" | sed 's/^/0x/' | xargs printf '%d'; }

# Truncated: only the first half of the file arrived.
size=$(stat -c %s "$good")
head -c $(( size / 2 )) "$good" > "$tmp/bad/truncated.itb"

# One flipped byte inside the EVB dtb's data ("EVB" -> "FVB" in its model string): the tree still parses but its
# crc32/sha256 hashes no longer match.
offset=$(grep -obUa "Sophgo BM1684X EVB" "$good" | head -n 1 | cut -d: -f1)
[ -n "$offset" ] || { echo "make-fixtures: model string not found in $good" >&2; exit 1; }
cp "$good" "$tmp/bad/flipped-byte.itb"
printf 'F' | dd of="$tmp/bad/flipped-byte.itb" bs=1 seek=$(( offset + 15 )) conv=notrunc status=none

# Signed: a signature node under the default configuration, as `mkimage -k keys -r` would leave.
cp "$good" "$tmp/bad/signed.itb"
fdtput -c "$tmp/bad/signed.itb" /configurations/config-1/signature-1
fdtput -t s "$tmp/bad/signed.itb" /configurations/config-1/signature-1 algo "sha256,rsa2048"
fdtput -t s "$tmp/bad/signed.itb" /configurations/config-1/signature-1 key-name-hint "dev"

# The EVB's own dtb (fdt-1) removed: an image for other boards.
cp "$good" "$tmp/bad/without-board-dtb.itb"
fdtput -r "$tmp/bad/without-board-dtb.itb" /images/fdt-1

# External data whose kernel offset points far past the end of the file.
tree="$tmp/bad/tree.dtb"
ext="$tmp/external/data-offset.itb"
head -c "$(totalsize "$ext")" "$ext" > "$tree"
fdtput -t x "$tree" /images/kernel-1 data-offset 0x7ffffff0
{ cat "$tree"; tail -c +$(( $(totalsize "$ext") + 1 )) "$ext"; } > "$tmp/bad/external-out-of-bounds.itb"
rm -f "$tree"

# Not a FIT at all: the image's source text.
cp "$tmp/fit-16g/multi.its" "$tmp/bad/not-a-fit.its"

# A dtb image whose hash node names an algorithm tpudeploy does not compute (U-Boot knows md5; we do not): the
# EVB 16g image with fdt-2's hash-1 switched from sha256 to md5 (its old sha256 value left in place).
cp "$good" "$tmp/bad/unknown-hash-algo.itb"
fdtput -t s "$tmp/bad/unknown-hash-algo.itb" /images/fdt-2/hash-1 algo "md5"

# FIT sources that do not belong to fit-16g/emmcboot.itb, each with one difference (the ITSSource check names it).
# (bad/without-board-dtb.itb with fit-16g/multi.its is the "image missing from the FIT" pair.)
mkdir -p "$tmp/its"
its="$tmp/fit-16g/multi.its"
# fdt-5 built from a dtb the image does not carry.
sed 's|/incbin/("./bm1684x_airbox_v1.dtb")|/incbin/("./bm1684x_airbox_v2.dtb")|' "$its" > "$tmp/its/foreign-dtb.its"
# ramdisk-1 hashed with sha256 instead of sha1 (the first sha1 in the file is the ramdisk's).
sed '0,/algo = "sha1"/s//algo = "sha256"/' "$its" > "$tmp/its/other-hash.its"
# Another default configuration.
sed 's|default = "config-1";|default = "config-2";|' "$its" > "$tmp/its/other-default.its"
# config-3 boots the EVB dtb instead of its own.
sed '/config-3 {/,/};/s|fdt = "fdt-3";|fdt = "fdt-1";|' "$its" > "$tmp/its/other-configuration.its"
# Cut off in the middle of the images node.
head -n 20 "$its" > "$tmp/its/truncated.its"
for file in "$tmp"/its/*.its; do
	cmp -s "$file" "$its" && { echo "make-fixtures: $file is unchanged" >&2; exit 1; }
done

date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/stamp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
