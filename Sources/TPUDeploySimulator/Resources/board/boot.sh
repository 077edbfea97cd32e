#!/bin/bash
# The boot of a simulated BM1684X board, run by board-init.sh inside the board. An independent judge of
# /boot/emmcboot.itb that uses only U-Boot's and dtc's own tools (dumpimage, fdtget): the FIT must list, every
# hash-N node of every image must match its data, and one flat_dt image must be the board's dtb (by its
# /info file-name). Then the layout of that dtb is published where a real board shows it: ion heap sizes in
# debugfs, RAM in /proc/meminfo, the live device tree under /sys/firmware/devicetree/base.
# On failure prints the reason on stdout and exits 1: the board stays bricked.
set -u
S=/run/tpudeploy-sim
. "$S/board.env"
itb=/boot/emmcboot.itb
work="$S/work"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "$*"; rm -rf "$work"; exit 1; }

# --- the FIT image --------------------------------------------------------------------------------------
[ -f "$itb" ] || fail "/boot/emmcboot.itb is missing"
dumpimage -l "$itb" > "$work/fit-list" 2>&1 || fail "U-Boot's dumpimage rejects /boot/emmcboot.itb: $(tail -n 1 "$work/fit-list")"
images=$(fdtget -l "$itb" /images 2>&1) || fail "/boot/emmcboot.itb has no /images: $images"

hex_bytes() { # reads fdtget -t bx output, prints lower-case hex without spaces
	local b out=""
	for b in $1; do out+=$(printf '%02x' "0x$b"); done
	printf '%s' "$out"
}
crc32_of() { # zlib CRC-32 of a file, from the gzip trailer (stored little-endian)
	local le
	le=$(gzip -1 -c < "$1" | tail -c 8 | head -c 4 | od -An -tx1 | tr -d ' \n')
	printf '%s' "${le:6:2}${le:4:2}${le:2:2}${le:0:2}"
}

# A dtb's name as U-Boot, the kernel and memory_edit.sh all accept it: without its .dtb or .dts ending (2023 kernels
# write file-name with .dts), dots and underscores alike (U-Boot spells bm1684x_se7_v2.0 as bm1684x_se7_v2_0).
dtb_key() { local n="${1%.dtb}"; n="${n%.dts}"; printf '%s' "${n//./_}"; }
wanted=$(dtb_key "$BOARD_DTB")

dtb="" index=0
for image in $images; do
	data="$work/image-$index"
	dumpimage -T flat_dt -p "$index" -o "$data" "$itb" > /dev/null 2>&1 || fail "dumpimage cannot extract image $index ($image)"
	for node in $(fdtget -l "$itb" "/images/$image"); do
		case "$node" in hash*) ;; *) continue ;; esac
		algo=$(fdtget -t s "$itb" "/images/$image/$node" algo 2>/dev/null) || fail "$image/$node has no algo"
		stored=$(fdtget -t bx "$itb" "/images/$image/$node" value 2>/dev/null) || fail "$image/$node has no value"
		stored=$(hex_bytes "$stored")
		case "$algo" in
		crc32) actual=$(crc32_of "$data") ;;
		sha1) actual=$(sha1sum < "$data" | cut -d' ' -f1) ;;
		sha256) actual=$(sha256sum < "$data" | cut -d' ' -f1) ;;
		*) fail "$image/$node uses hash algorithm $algo, which this board's U-Boot does not know" ;;
		esac
		[ "$stored" = "$actual" ] || fail "bad $algo hash in $image/$node of /boot/emmcboot.itb (stored $stored, data gives $actual)"
	done
	if [ -z "$dtb" ] && [ "$(fdtget -t s "$itb" "/images/$image" type 2>/dev/null)" = flat_dt ] &&
		[ "$(dtb_key "$(fdtget -t s "$data" /info file-name 2>/dev/null)")" = "$wanted" ]; then
		dtb="$work/booted.dtb"
		cp "$data" "$dtb"
	fi
	rm -f "$data"
	index=$((index + 1))
done
[ -n "$dtb" ] || fail "no dtb named $BOARD_DTB.dtb in /boot/emmcboot.itb"

# --- the memory layout of the dtb, read with fdtget only ------------------------------------------------
cells() { fdtget -t u "$dtb" "$1" "$2" 2>/dev/null || echo "$3"; }
reg_sizes() { # node: prints the size of every (address, size) entry of its reg, in bytes
	local ac="$2" sc="$3" words w i=0 entry=$(( ac + sc )) size=0
	words=$(fdtget -t x "$dtb" "$1" reg 2>/dev/null) || return 1
	for w in $words; do
		if (( i % entry >= ac )); then size=$(( (size << 32) | 0x$w )); fi
		i=$((i + 1))
		if (( i % entry == 0 )); then echo "$size"; size=0; fi
	done
}
ac=$(cells / '#address-cells' 2) sc=$(cells / '#size-cells' 1)
ram=0
for node in $(fdtget -l "$dtb" /); do
	[ "$(fdtget -t s "$dtb" "/$node" device_type 2>/dev/null)" = memory ] || continue
	for size in $(reg_sizes "/$node" "$ac" "$sc"); do ram=$(( ram + size )); done
done
(( ram > 0 )) || fail "the dtb $BOARD_DTB.dtb has no memory node"

rac=$(cells /reserved-memory '#address-cells' "$ac") rsc=$(cells /reserved-memory '#size-cells' "$sc")
reserved=0 npu="" vpu="" vpp=""
for node in $(fdtget -l "$dtb" /reserved-memory 2>/dev/null); do
	path="/reserved-memory/$node"
	fdtget -p "$dtb" "$path" | grep -qx reusable && continue
	sizes=$(reg_sizes "$path" "$rac" "$rsc") || continue
	total=0
	for size in $sizes; do total=$(( total + size )); done
	reserved=$(( reserved + total ))
	case " $(fdtget -t s "$dtb" "$path" compatible 2>/dev/null) " in
	*" npu-region "*) npu=$total ;;
	*" vpu-region "*) vpu=$total ;;
	*" vpp-region "*) vpp=$total ;;
	esac
done

# --- publish ----------------------------------------------------------------------------------------------
# ion heaps: debugfs (root only, like the kernel's), and a world-readable copy for bm-smi. As the ion driver
# (sophgo/linux-arm64 drivers/soc/bitmain/ion/bitmain/bitmain_ion_debugfs.c) each heap has
# bm_<name>_heap_dump/total_mem and alloc_mem ("%llu\n"); alloc_mem is a link to what the simulated runtime
# publishes in heap-used/<name> (replaced atomically; a boot frees everything, so it starts at 0). Those are the
# board-wide totals: each process's share is in heap-shares/<pid>.<device> (sticky, as engines run as any user),
# summed under a lock by the runtime, so a second engine sees the first one's use as on a real board.
rm -rf "$S/debugfs/ion"
mkdir -p "$S/heap-used" && chmod 0777 "$S/heap-used" && rm -f "$S/heap-used/"*
mkdir -p "$S/heap-shares" && chmod 1777 "$S/heap-shares" && rm -f "$S/heap-shares/"*
: > "$S/live-heaps.tmp"
for heap in npu vpu vpp; do
	size="${!heap}"
	[ -n "$size" ] || continue
	echo 0 > "$S/heap-used/$heap" && chmod 0666 "$S/heap-used/$heap"
	echo "$heap=$size" >> "$S/live-heaps.tmp"
	grep -qx no-ion-debugfs "$S/faults" 2>/dev/null && continue   # fault injected: debugfs not mounted
	mkdir -p "$S/debugfs/ion/bm_${heap}_heap_dump"
	echo "$size" > "$S/debugfs/ion/bm_${heap}_heap_dump/total_mem"
	ln -s "$S/heap-used/$heap" "$S/debugfs/ion/bm_${heap}_heap_dump/alloc_mem"
done
chmod 0700 "$S/debugfs"
mv -f "$S/live-heaps.tmp" "$S/live-heaps"

# The live device tree: every node a directory, every property a file holding its raw bytes.
export_tree() { # node-path dir
	local node="$1" dir="$2" prop child bytes esc b
	mkdir -p "$dir"
	for prop in $(fdtget -p "$dtb" "$node" 2>/dev/null); do
		bytes=$(fdtget -t bx "$dtb" "$node" "$prop" 2>/dev/null)
		esc=""
		for b in $bytes; do esc+="\\x$b"; done
		printf "$esc" > "$dir/$prop"
	done
	for child in $(fdtget -l "$dtb" "$node" 2>/dev/null); do
		export_tree "${node%/}/$child" "$dir/$child"
	done
}
rm -rf "$S/firmware/devicetree" && mkdir -p "$S/firmware/devicetree"
export_tree / "$S/firmware/devicetree/base"
file_name="$S/firmware/devicetree/base/info/file-name"
[ -f "$file_name" ] || { mkdir -p "${file_name%/*}"; printf '%s\0' "$BOARD_DTB.dtb" > "$file_name"; }
cp "$dtb" "$S/booted.dtb"

# RAM: what Linux gets is the DDR minus every non-reusable reserved region minus the kernel's own share.
kib=1024 kernel_overhead=$(( 48 << 20 ))
mem_total=$(( (ram - reserved - kernel_overhead) / kib ))
(( mem_total > 65536 )) || fail "the dtb leaves Linux only $(( mem_total / 1024 )) MiB of RAM"
buffers=$(( mem_total / 100 )) cached=$(( mem_total / 10 )) sreclaimable=$(( mem_total / 50 ))
shmem=$(( mem_total / 200 )) mem_free=$(( mem_total * 7 / 10 ))
mem_available=$(( mem_free + buffers + cached * 8 / 10 + sreclaimable / 2 ))
cat > "$S/meminfo.booted" <<MEMINFO
MemTotal:       $(printf '%8d' $mem_total) kB
MemFree:        $(printf '%8d' $mem_free) kB
MemAvailable:   $(printf '%8d' $mem_available) kB
Buffers:        $(printf '%8d' $buffers) kB
Cached:         $(printf '%8d' $cached) kB
SwapCached:            0 kB
Active:         $(printf '%8d' $(( cached / 2 + mem_total / 20 ))) kB
Inactive:       $(printf '%8d' $(( cached / 2 + buffers ))) kB
Active(anon):   $(printf '%8d' $(( mem_total / 25 ))) kB
Inactive(anon): $(printf '%8d' $shmem) kB
Active(file):   $(printf '%8d' $(( cached / 2 ))) kB
Inactive(file): $(printf '%8d' $(( cached / 2 ))) kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:                 8 kB
Writeback:             0 kB
AnonPages:      $(printf '%8d' $(( mem_total / 25 ))) kB
Mapped:         $(printf '%8d' $(( mem_total / 60 ))) kB
Shmem:          $(printf '%8d' $shmem) kB
KReclaimable:   $(printf '%8d' $sreclaimable) kB
Slab:           $(printf '%8d' $(( sreclaimable * 3 / 2 ))) kB
SReclaimable:   $(printf '%8d' $sreclaimable) kB
SUnreclaim:     $(printf '%8d' $(( sreclaimable / 2 ))) kB
KernelStack:        4320 kB
PageTables:         6180 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:    $(printf '%8d' $(( mem_total / 2 ))) kB
Committed_AS:   $(printf '%8d' $(( mem_total / 8 ))) kB
VmallocTotal:   135290159040 kB
VmallocUsed:       23456 kB
VmallocChunk:          0 kB
Percpu:             1536 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
CmaTotal:         131072 kB
CmaFree:          126976 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
MEMINFO
if grep -qx malformed-meminfo "$S/faults" 2>/dev/null; then
	printf 'MemTotal:       %s\nMemFr' "$mem_total" > "$S/meminfo"   # fault injected: cut short
else
	cat "$S/meminfo.booted" > "$S/meminfo"   # in place: /proc/meminfo is bound to this very file
fi
cat /proc/sys/kernel/random/uuid > "$S/boot_id.new" && cat "$S/boot_id.new" > "$S/boot_id" && rm -f "$S/boot_id.new"   # in place: bound over the kernel's boot_id
rm -rf "$work"
echo "booted $BOARD_DTB.dtb: ram $ram bytes, npu ${npu:-none} vpu ${vpu:-none} vpp ${vpp:-none}" >&2
