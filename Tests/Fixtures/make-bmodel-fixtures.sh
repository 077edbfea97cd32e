#!/usr/bin/env bash
# Builds bmodel test fixtures from readable sources: flatc (Debian's flatbuffers-compiler, an encoder we did not
# write) compiles bmodel/*.json against bmodel/bmodel.fbs; the 64-byte header is packed here; the coefficient
# blob is a sparse file of the declared size (real bmodels carry GBs of weights; the reader never reads them).
# Output: Tests/Fixtures/build-bmodel/ (gitignored).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/build-bmodel"
command -v flatc >/dev/null || { echo "flatc not found: run make setup" >&2; exit 3; }
rm -rf "$out.tmp" && mkdir -p "$out.tmp"

# header MAGIC FLATBUFFERS_SIZE BINARY_SIZE > file: u32 magic, u32 header_size=64, u32 fb size, u32 binary size, 48 zero bytes.
header() { perl -e 'print pack("V4 x48", hex($ARGV[0]), 64, $ARGV[1], $ARGV[2])' "$@"; }

build() { # name json magic [chip-override]
	local name="$1" json="$2" magic="$3"
	flatc -b -o "$out.tmp" "$here/bmodel/bmodel.fbs" "$json"
	local fb="$out.tmp/$(basename "${json%.json}").bin"
	local fb_size binary_size
	fb_size=$(stat -c %s "$fb")
	binary_size=$(perl -MJSON::PP -0777 -ne '
		my $m = decode_json($_); my %seen; my $end = 0;
		for my $n (@{$m->{net}}) { for my $p (@{$n->{parameter}}) { my $b = $p->{coeff_mem}{binary_coeff} or next;
			my $e = $b->{start} + $b->{size}; $end = $e if $e > $end; } }
		print $end' "$json")
	{ header "$magic" "$fb_size" "$binary_size"; cat "$fb"; } > "$out.tmp/$name.bmodel"
	truncate -s "+$binary_size" "$out.tmp/$name.bmodel"
	rm -f "$fb"
}

build tiny-chatglm2 "$here/bmodel/tiny-chatglm2.json" FF55AAEE
build bad-magic "$here/bmodel/tiny-chatglm2.json" FF55AAFF
sed 's/"chip": "BM1684X"/"chip": "BM1684"/' "$here/bmodel/tiny-chatglm2.json" > "$out.tmp/old-chip.json"
build old-chip "$out.tmp/old-chip.json" FF55AAEE
rm -f "$out.tmp/old-chip.json"
# Cut inside the FlatBuffers part: the header promises more than the file has.
head -c 200 "$out.tmp/tiny-chatglm2.bmodel" > "$out.tmp/truncated.bmodel"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
