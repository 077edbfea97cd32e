#!/usr/bin/env bash
# Builds a BM1684X-style boot image (/boot/emmcboot.itb and its source /boot/multi.its) from the dts
# sources beside this script, with U-Boot's mkimage and dtc. Used by the simulator (`tpudeploy sim up`)
# and by the test-fixture script, so every FIT image in the project comes from one recipe.
#
# usage: build-boot-image.sh --out DIR [--family vendor|fixture] [--board NAME] [--ram 12g|16g]
#                            [--kernel-kib N] [--ramdisk-kib N]
#   --family   vendor: the image carries every board dtb of boards/ (the vendor's dtbs, each with its factory
#              layout from sophgo/linux-arm64, as the vendor's multi.its carries one fdt per board); --board
#              must be one of them.
#              fixture (the default): the test fixtures' five dtbs, every one with the plain layout of
#              bm1684x_mm_<ram>.dtsi (the layout the memory_edit.sh oracle in Tests/Fixtures was recorded on;
#              bm1684x_se7_v1_12g and bm1684x_airbox_v1 are fixture names only, no vendor dtb has them).
#   --board    file name (without .dtb) of the dtb the simulated board boots; it gets the --ram layout
#   --ram      12g or 16g: which DDR split (banks) that dtb includes
#   The other dtbs of the family get their usual RAM size, so tools must pick the right one, as on a real board.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="" family_kind="fixture" board="bm1684x_evb_v0.0" ram="16g" kernel_kib=20480 ramdisk_kib=8192

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--family) family_kind="$2"; shift 2 ;;
	--board) board="${2%.dtb}"; board="${board%.dts}"; shift 2 ;;
	--ram) ram="$2"; shift 2 ;;
	--kernel-kib) kernel_kib="$2"; shift 2 ;;
	--ramdisk-kib) ramdisk_kib="$2"; shift 2 ;;
	*) echo "build-boot-image: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { echo "build-boot-image: --out DIR is required" >&2; exit 2; }
case "$ram" in 12g|16g) ;; *) echo "build-boot-image: --ram must be 12g or 16g" >&2; exit 2 ;; esac
for tool in dtc mkimage openssl; do
	command -v "$tool" >/dev/null || { echo "build-boot-image: $tool not found (run: make setup)" >&2; exit 3; }
done

# The family's dtbs: name, model string, usual RAM.
case "$family_kind" in
vendor)
	family=""
	for file in "$here"/boards/*.dtsi; do
		name="$(basename "$file" .dtsi)"
		family="${family}${name}|Sophgo BM1684X board|16g
"
	done
	printf '%s' "$family" | grep -q "^${board}|" || {
		echo "build-boot-image: no vendor board $board (boards/: $(ls "$here/boards" | sed 's/\.dtsi$//' | tr '\n' ' '))" >&2
		exit 2
	}
	;;
fixture)
	family="bm1684x_evb_v0.0|Sophgo BM1684X EVB|16g
bm1684x_se7_v1|Sophgo SE7|16g
bm1684x_se7_v1_12g|Sophgo SE7 12G|12g
bm1684x_sm7m_v0.0|Sophgo SM7M|12g
bm1684x_airbox_v1|Sophgo AirBox|16g"
	# The chosen board is added first if not listed.
	if ! printf '%s\n' "$family" | grep -q "^${board}|"; then
		family="${board}|Sophgo BM1684X board|${ram}
${family}"
	fi
	;;
*) echo "build-boot-image: --family must be vendor or fixture" >&2; exit 2 ;;
esac

work="$out/work"
rm -rf "$work"
mkdir -p "$work"
cp "$here/bm1684x_mm_12g.dtsi" "$here/bm1684x_mm_16g.dtsi" "$work/"
[ "$family_kind" = vendor ] && cp "$here"/boards/*.dtsi "$work/"

# Deterministic stand-ins for the kernel and ramdisk, incompressible like the real ones.
pseudo_random() { # name kib
	head -c "$(( $2 * 1024 ))" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv "$(printf '%032x' "${#1}")" > "$work/$1"
}
pseudo_random Image "$kernel_kib"
pseudo_random ramdisk.cpio.gz "$ramdisk_kib"

fdt_nodes="" config_nodes="" n=0
while IFS='|' read -r name model usual_ram; do
	[ -n "$name" ] || continue
	n=$(( n + 1 ))
	board_ram="$usual_ram"
	[ "$name" = "$board" ] && board_ram="$ram"
	cat > "$work/$name.dts" <<DTS
/dts-v1/;
/include/ "bm1684x_mm_${board_ram}.dtsi"
/ {
	model = "${model}";
	compatible = "bitmain,bm1684x";
	interrupt-parent = <&gic>;

	info {
		file-name = "${name}.dtb";
	};

	chosen {
		bootargs = "console=ttyS0,115200 earlycon root=/dev/mmcblk0p5 rootwait rw";
	};

	gic: interrupt-controller@50001000 {
		compatible = "arm,gic-400";
		#interrupt-cells = <3>;
		interrupt-controller;
		reg = <0x0 0x50001000 0x0 0x1000>, <0x0 0x50002000 0x0 0x2000>;
	};
};
DTS
	# A vendor board's own layout (and model, and file-name where its dts spells it otherwise) overrides the base.
	[ "$family_kind" = vendor ] && printf '/include/ "%s.dtsi"\n' "$name" >> "$work/$name.dts"
	dtc -q -I dts -O dtb -p 500 -o "$work/$name.dtb" "$work/$name.dts"
	# Hash nodes vary by image so every algorithm U-Boot knows is exercised.
	case $(( n % 3 )) in
	1) hashes="hash-1 { algo = \"crc32\"; }; hash-2 { algo = \"sha256\"; };" ;;
	2) hashes="hash-1 { algo = \"sha256\"; };" ;;
	0) hashes="hash-1 { algo = \"sha1\"; }; hash-2 { algo = \"crc32\"; };" ;;
	esac
	fdt_nodes="${fdt_nodes}
		fdt-${n} {
			description = \"${name}\";
			data = /incbin/(\"./${name}.dtb\");
			type = \"flat_dt\";
			arch = \"arm64\";
			compression = \"none\";
			${hashes}
		};"
	config_nodes="${config_nodes}
		config-${n} {
			description = \"${name}\";
			kernel = \"kernel-1\";
			ramdisk = \"ramdisk-1\";
			fdt = \"fdt-${n}\";
		};"
done <<< "$family"

cat > "$work/multi.its" <<ITS
/dts-v1/;

/ {
	description = "Various kernels, ramdisks and FDT blobs";
	#address-cells = <1>;

	images {
		kernel-1 {
			description = "bitmain kernel";
			data = /incbin/("./Image");
			type = "kernel";
			arch = "arm64";
			os = "linux";
			compression = "none";
			load = <0x280000>;
			entry = <0x280000>;
			hash-1 { algo = "crc32"; };
		};
		ramdisk-1 {
			description = "bitmain ramdisk";
			data = /incbin/("./ramdisk.cpio.gz");
			type = "ramdisk";
			arch = "arm64";
			os = "linux";
			compression = "none";
			load = <0x0>;
			entry = <0x0>;
			hash-1 { algo = "sha1"; };
		};${fdt_nodes}
	};

	configurations {
		default = "config-1";${config_nodes}
	};
};
ITS

# The same mkimage call Sophgo's memory_edit.sh uses to pack emmcboot.itb.
(cd "$work" && mkimage -p 0x2000 -D "-q -I dts -O dtb -p 500" -f multi.its emmcboot.itb >/dev/null)
mv "$work/emmcboot.itb" "$out/emmcboot.itb"
cp "$work/multi.its" "$out/multi.its"
echo "$out/emmcboot.itb"
