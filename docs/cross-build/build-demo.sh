#!/bin/bash
# Cross-build the demo for aarch64 / glibc 2.31 against the bullseye sysroot, check it, run it under qemu.
#   OUT=/tmp/cross-proto ./build-demo.sh       (run ./make-sysroot.sh first)
# Host packages used: qemu-user (qemu-aarch64), sentencepiece (spm_train), binutils (readelf), python3.
set -euo pipefail
OUT=${OUT:-/tmp/cross-proto}
SYSROOT=$OUT/sysroot
LLVM=${LLVM:-/opt/swift/usr/bin}
SPM_SRC=$(ls -d "$OUT"/src/sentencepiece-*/ | head -1); SPM_SRC=${SPM_SRC%/}
B=$OUT/build
JOBS=$(nproc)
MAX_GLIBC=2.31
mkdir -p "$B/spm/obj" "$B/spm/include" "$B/out"

# --- toolchain: Swift's clang 21 + lld, GCC 10 runtime (crt*, libgcc, libstdc++) from the sysroot
TARGET=aarch64-linux-gnu
CC=("$LLVM/clang"   --no-default-config --target=$TARGET --sysroot="$SYSROOT")
CXX=("$LLVM/clang++" --no-default-config --target=$TARGET --sysroot="$SYSROOT")
CFLAGS=(-O2 -g0 -fPIC -pthread -ffunction-sections -fdata-sections)
CXXFLAGS=("${CFLAGS[@]}" -std=c++17)
LDFLAGS=(-fuse-ld=lld -pthread -static-libstdc++ -static-libgcc -Wl,--gc-sections -Wl,--as-needed
         -Wl,-z,relro,-z,now -Wl,--hash-style=gnu -Wl,--build-id -Wl,--exclude-libs,ALL)
AR=$LLVM/llvm-ar

# --- 1. static libsentencepiece.a from the Debian source (builtin protobuf-lite, no trainer)
S=$SPM_SRC/src; T=$SPM_SRC/third_party
SPM_VERSION=$(cat "$SPM_SRC/VERSION.txt")
printf '#ifndef CONFIG_H_\n#define CONFIG_H_\n#define VERSION "%s"\n#define PACKAGE "sentencepiece"\n#define PACKAGE_STRING "sentencepiece"\n#endif\n' \
  "$SPM_VERSION" > "$B/spm/config.h.new"
cmp -s "$B/spm/config.h.new" "$B/spm/config.h" && rm "$B/spm/config.h.new" || mv "$B/spm/config.h.new" "$B/spm/config.h"
SPM_SRCS=(
  $T/protobuf-lite/{arena,arenastring,bytestream,coded_stream,common,extension_set,generated_enum_util,generated_message_table_driven_lite,generated_message_util,implicit_weak_message,int128,io_win32,message_lite,parse_context,repeated_field,status,statusor,stringpiece,stringprintf,structurally_valid,strutil,time,wire_format_lite,zero_copy_stream,zero_copy_stream_impl,zero_copy_stream_impl_lite}.cc
  $S/builtin_pb/sentencepiece.pb.cc $S/builtin_pb/sentencepiece_model.pb.cc
  $S/{bpe_model,char_model,error,filesystem,model_factory,model_interface,normalizer,sentencepiece_processor,unigram_model,util,word_model}.cc
  $T/absl/flags/flag.cc
)
SPM_FLAGS=("${CXXFLAGS[@]}" -DHAVE_PTHREAD=1 -D_USE_INTERNAL_STRING_VIEW -Wno-sign-compare -w
           -I"$B/spm" -I"$T/protobuf-lite" -I"$S/builtin_pb" -I"$T" -I"$S" -I"$SPM_SRC")
objs=(); todo=()
for src in "${SPM_SRCS[@]}"; do
  o=$B/spm/obj/$(echo "${src#$SPM_SRC/}" | tr / _).o; objs+=("$o")
  [ "$o" -nt "$src" ] && [ "$o" -nt "$B/spm/config.h" ] || todo+=("$src=$o")
done
if [ ${#todo[@]} -gt 0 ]; then
  echo "compiling ${#todo[@]} sentencepiece sources with $JOBS jobs"
  printf '%s\n' "${todo[@]}" | xargs -P "$JOBS" -I{} sh -c 's="{}"; exec "$@" -c "${s%%=*}" -o "${s#*=}"' _ "${CXX[@]}" "${SPM_FLAGS[@]}"
  rm -f "$B/spm/libsentencepiece.a"
fi
[ -f "$B/spm/libsentencepiece.a" ] || "$AR" rcs "$B/spm/libsentencepiece.a" "${objs[@]}"
cp -u "$S/sentencepiece_processor.h" "$B/spm/include/"

# --- 2. the dlopen'ed plugin, like libbmrt.so: C++ inside with the *dynamic* libstdc++.so.6
#        (on the board that is Ubuntu 20.04's; under qemu the sysroot's), C ABI outside.
#        Test artifact only - the engine does not ship it.
"${CXX[@]}" "${CXXFLAGS[@]}" -shared -fuse-ld=lld -Wl,-soname,libplugin.so -Wl,--as-needed -Wl,-z,relro,-z,now \
  "$OUT/demo/plugin.cpp" -o "$B/out/libplugin.so"

# --- 3. the demo executable
"${CXX[@]}" "${CXXFLAGS[@]}" -I"$B/spm/include" -c "$OUT/demo/demo.cpp" -o "$B/demo.o"
"${CXX[@]}" "${LDFLAGS[@]}" "$B/demo.o" "$B/spm/libsentencepiece.a" -ldl \
  -Wl,-rpath,'$ORIGIN' -o "$B/out/demo"

# --- 3b. header-only HTTP + JSON (for the engine's server): httplib.h from the cpp-httplib source package,
#         nlohmann/json.hpp from bullseye's nlohmann-json3-dev in the sysroot
HTTPLIB_DIR=$(ls -d "$OUT"/src/cpp-httplib-*/ | head -1)
"${CXX[@]}" "${CXXFLAGS[@]}" -isystem "$HTTPLIB_DIR" -c "$OUT/demo/http-demo.cpp" -o "$B/http-demo.o"
"${CXX[@]}" "${LDFLAGS[@]}" "$B/http-demo.o" -o "$B/out/http-demo"

# --- 4. a tiny model trained with the host's spm_train (model files are architecture independent)
if [ ! -f "$B/out/tiny.model" ]; then
  python3 - "$B/corpus.txt" <<'PY'
import random, sys
random.seed(1)
w = ('the quick brown fox jumps over lazy dog tpu engine runs large language models on '
     'sophgo boards with sentencepiece tokens and memory heaps').split()
with open(sys.argv[1], 'w') as f:
    for _ in range(2000): f.write(' '.join(random.choice(w) for _ in range(12)) + '\n')
PY
  spm_train --input="$B/corpus.txt" --model_prefix="$B/out/tiny" --vocab_size=64 --model_type=unigram \
    --character_coverage=1.0 --minloglevel=2 >/dev/null 2>&1
fi

# --- 5. checks: GLIBC_ versions, NEEDED, interpreter
fail=0
for f in "$B/out/demo" "$B/out/http-demo" "$B/out/libplugin.so"; do
  max=$(readelf -V --wide "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  vers=$(readelf -V --wide "$f" | grep -oE '(GLIBC|GLIBCXX|CXXABI|GCC)_[0-9][0-9.]*' | sort -uV | tr '\n' ' ')
  echo "$(basename "$f"): max GLIBC_$max; NEEDED: $needed"
  echo "    versions: $vers"
  if [ "$(printf '%s\n%s\n' "$max" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then echo "    FAIL: needs GLIBC_$max > $MAX_GLIBC"; fail=1; fi
  [ "$f" = "$B/out/libplugin.so" ] || case "$needed" in *libstdc++*|*libgcc_s*|*libsentencepiece*) echo "    FAIL: dynamic C++ runtime/sentencepiece"; fail=1;; esac
done
readelf -l "$B/out/demo" | grep -o 'interpreter: [^]]*'
readelf -d "$B/out/demo" | grep -E 'RUNPATH|RPATH'
[ $fail = 0 ]

# --- 6. run under qemu with the sysroot as the target's root
echo "--- qemu-aarch64 -L $SYSROOT $B/out/demo $B/out/tiny.model"
qemu-aarch64 -L "$SYSROOT" "$B/out/demo" "$B/out/tiny.model"
echo "--- qemu-aarch64 -L $SYSROOT $B/out/http-demo"
qemu-aarch64 -L "$SYSROOT" "$B/out/http-demo"
