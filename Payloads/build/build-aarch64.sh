#!/bin/bash
# Cross-build the engine and the simulated runtime for the boards (aarch64, Ubuntu 20.04, glibc 2.31):
#   Payloads/aarch64/tpu-llm-engine                 every .c/.cpp of TPURuntimeAPI, TPULLMEngine (incl. server/)
#                                                   and tpu-llm-engine; libstdc++/libgcc and sentencepiece static
#   Payloads/aarch64/sim-runtime/libbmrt.so         TPUSimRuntime (libstdc++/libgcc static)
#   Payloads/aarch64/sim-runtime/libbmlib.so        -> libbmrt.so (one library under libsophon's two names)
#   Payloads/aarch64/tpu-relay-agent                the relay of fleet distribution (plain C, glibc only)
# against the bullseye arm64 sysroot of make-sysroot.sh (run first, from here), with Swift's clang + lld.
# Incremental: a generated makefile (build/aarch64/build.mk, dependency files from -MMD) recompiles only what
# changed; a change of the flags or of the source list rebuilds what depends on it.
#   Payloads/build/build-aarch64.sh        JOBS=N to override the parallelism, V=1 to see the commands
# Host tools: make, binutils (readelf), the clang/lld/llvm-ar of Swift (LLVM=… to use another).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
SYSROOT=${SYSROOT:-$REPO/build/aarch64-sysroot}
B=build/aarch64                      # objects, static sentencepiece, generated makefile
OUT=Payloads/aarch64
MAX_GLIBC=2.31
JOBS=${JOBS:-$(nproc)}
if [ -z "${LLVM:-}" ]; then
  LLVM=/opt/swift/usr/bin
  [ -x "$LLVM/clang" ] || LLVM=$(dirname "$(readlink -f "$(command -v swift)")")
fi
for t in clang clang++ ld.lld llvm-ar; do
  [ -x "$LLVM/$t" ] || { echo "build-aarch64: no $LLVM/$t (Swift's toolchain; set LLVM=DIR)" >&2; exit 1; }
done
command -v readelf >/dev/null || { echo "build-aarch64: readelf missing (package binutils)" >&2; exit 1; }

# One build at a time in this checkout (make test and an engineer's make cross may overlap).
mkdir -p "$B"; exec 9>"$B/.lock"; flock 9
SYSROOT=$SYSROOT "$REPO/Payloads/build/make-sysroot.sh"
SRC=$SYSROOT/var/tpudeploy/src
SPM=$(ls -d "$SRC"/sentencepiece-*/ 2>/dev/null | head -1); SPM=${SPM%/}
HTTPLIB=$(ls -d "$SRC"/cpp-httplib-*/ 2>/dev/null | head -1); HTTPLIB=${HTTPLIB%/}
[ -f "$SPM/src/sentencepiece_processor.h" ] && [ -f "$HTTPLIB/httplib.h" ] \
  || { echo "build-aarch64: sources missing under $SRC (re-run make-sysroot.sh)" >&2; exit 1; }
mkdir -p "$B/spm/include" "$OUT/sim-runtime"

# --- sentencepiece: its config.h (cmake's, reduced to what the library reads) and public header
write_if_changed() { if ! cmp -s "$1.new" "$1"; then mv "$1.new" "$1"; else rm -f "$1.new"; fi; }
printf '#ifndef CONFIG_H_\n#define CONFIG_H_\n#define VERSION "%s"\n#define PACKAGE "sentencepiece"\n#define PACKAGE_STRING "sentencepiece"\n#endif\n' \
  "$(cat "$SPM/VERSION.txt")" > "$B/spm/config.h.new"; write_if_changed "$B/spm/config.h"
cp "$SPM/src/sentencepiece_processor.h" "$B/spm/include/sentencepiece_processor.h.new"
write_if_changed "$B/spm/include/sentencepiece_processor.h"
SPM_SRCS=$(cd "$SPM" && ls third_party/protobuf-lite/*.cc src/builtin_pb/sentencepiece.pb.cc \
  src/builtin_pb/sentencepiece_model.pb.cc \
  src/{bpe_model,char_model,error,filesystem,model_factory,model_interface,normalizer,sentencepiece_processor,unigram_model,util,word_model}.cc \
  third_party/absl/flags/flag.cc | tr '\n' ' ')

# --- our sources (found afresh each run; the lists are files so that an added/removed source relinks)
list() { find "$@" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.cc' \) 2>/dev/null | LC_ALL=C sort | tr '\n' ' '; }
ENGINE_SRCS=$(list Sources/TPURuntimeAPI Sources/TPULLMEngine Sources/tpu-llm-engine)
SIM_SRCS=$(list Sources/TPUSimRuntime)
RELAY_SRCS=$(list Sources/tpu-relay-agent)
[ -n "$ENGINE_SRCS" ] && [ -n "$SIM_SRCS" ] && [ -n "$RELAY_SRCS" ] || { echo "build-aarch64: no sources under Sources/" >&2; exit 1; }
# Include paths as SwiftPM gives them: each target's include/ and its dependencies'.
ENGINE_INC="-ISources/TPURuntimeAPI/include -ISources/TPULLMEngine/include -isystem $B/spm/include -isystem $HTTPLIB"
SIM_INC="-ISources/TPUSimRuntime/include -ISources/TPURuntimeAPI/include"

# --- toolchain: clang for aarch64-linux-gnu, GCC 10 runtime (crt*, libgcc, libstdc++) from the sysroot.
# -ffp-contract=off: no fused multiply-add, so float results match the x86_64 build (which has no FMA).
# httplib: header-only, no CPPHTTPLIB_*_SUPPORT (no OpenSSL, zlib, brotli on the boards).
TARGET="--no-default-config --target=aarch64-linux-gnu --sysroot=$SYSROOT"
COMMON="-O2 -g0 -fPIC -pthread -ffp-contract=off -ffunction-sections -fdata-sections -fno-plt -Wall -Wno-unused-parameter"
CFLAGS="$COMMON -std=gnu17"
CXXFLAGS="$COMMON -std=c++17"
SPM_FLAGS="$COMMON -std=c++17 -w -DHAVE_PTHREAD=1 -I$B/spm -I$SPM/third_party/protobuf-lite -I$SPM/src/builtin_pb -I$SPM/third_party -I$SPM/src -I$SPM"
# lld; -static-libstdc++/-static-libgcc with --exclude-libs,ALL: the C++ runtime is inside and hidden, so the
# engine's and the runtime library's copies never meet (their interface is C). libpthread is named explicitly:
# the static libstdc++ reaches it through weak references, which --as-needed alone would drop.
LDFLAGS="-fuse-ld=lld -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,--gc-sections -Wl,--as-needed \
 -Wl,-z,relro,-z,now -Wl,--hash-style=gnu -Wl,--build-id -Wl,-O1"
LIBS="-Wl,--no-as-needed -lpthread -ldl -Wl,--as-needed -lm"

cat > "$B/build.mk" <<MK
# Generated by Payloads/build/build-aarch64.sh: do not edit.
CC := $LLVM/clang $TARGET
CXX := $LLVM/clang++ $TARGET
AR := $LLVM/llvm-ar
CFLAGS := $CFLAGS
CXXFLAGS := $CXXFLAGS
SPM_FLAGS := $SPM_FLAGS
ENGINE_INC := $ENGINE_INC
SIM_INC := $SIM_INC
LDFLAGS := $LDFLAGS
LIBS := $LIBS
SPM := $SPM
B := $B
OUT := $OUT
Q := \$(if \$(V),,@)

obj = \$(patsubst %,\$(B)/obj/%.o,\$(1))
SPM_OBJS := \$(patsubst %,\$(B)/spm/obj/%.o,$SPM_SRCS)
ENGINE_OBJS := \$(call obj,$ENGINE_SRCS)
SIM_OBJS := \$(call obj,$SIM_SRCS)
RELAY_OBJS := \$(call obj,$RELAY_SRCS)

all: \$(OUT)/tpu-llm-engine \$(OUT)/sim-runtime/libbmrt.so \$(OUT)/sim-runtime/libbmlib.so \$(OUT)/tpu-relay-agent

\$(B)/spm/obj/%.cc.o: \$(SPM)/%.cc \$(B)/flags.spm \$(B)/spm/config.h
	@mkdir -p \$(@D); echo "  CXX   sentencepiece/\$*.cc"
	\$(Q)\$(CXX) \$(SPM_FLAGS) -MMD -MP -c \$< -o \$@
\$(B)/spm/libsentencepiece.a: \$(SPM_OBJS)
	@echo "  AR    \$@"
	\$(Q)rm -f \$@ && \$(AR) rcs \$@ \$^

\$(B)/obj/Sources/TPUSimRuntime/%.cpp.o: Sources/TPUSimRuntime/%.cpp \$(B)/flags.cxx
	@mkdir -p \$(@D); echo "  CXX   \$<"
	\$(Q)\$(CXX) \$(CXXFLAGS) \$(SIM_INC) -MMD -MP -c \$< -o \$@
\$(B)/obj/Sources/TPUSimRuntime/%.cc.o: Sources/TPUSimRuntime/%.cc \$(B)/flags.cxx
	@mkdir -p \$(@D); echo "  CXX   \$<"
	\$(Q)\$(CXX) \$(CXXFLAGS) \$(SIM_INC) -MMD -MP -c \$< -o \$@
\$(B)/obj/Sources/TPUSimRuntime/%.c.o: Sources/TPUSimRuntime/%.c \$(B)/flags.c
	@mkdir -p \$(@D); echo "  CC    \$<"
	\$(Q)\$(CC) \$(CFLAGS) \$(SIM_INC) -MMD -MP -c \$< -o \$@
\$(B)/obj/%.cpp.o: %.cpp \$(B)/flags.cxx
	@mkdir -p \$(@D); echo "  CXX   \$<"
	\$(Q)\$(CXX) \$(CXXFLAGS) \$(ENGINE_INC) -MMD -MP -c \$< -o \$@
\$(B)/obj/%.cc.o: %.cc \$(B)/flags.cxx
	@mkdir -p \$(@D); echo "  CXX   \$<"
	\$(Q)\$(CXX) \$(CXXFLAGS) \$(ENGINE_INC) -MMD -MP -c \$< -o \$@
\$(B)/obj/%.c.o: %.c \$(B)/flags.c
	@mkdir -p \$(@D); echo "  CC    \$<"
	\$(Q)\$(CC) \$(CFLAGS) \$(ENGINE_INC) -MMD -MP -c \$< -o \$@

\$(OUT)/tpu-llm-engine: \$(ENGINE_OBJS) \$(B)/spm/libsentencepiece.a \$(B)/sources.engine \$(B)/flags.ld
	@mkdir -p \$(@D); echo "  LINK  \$@"
	\$(Q)\$(CXX) \$(LDFLAGS) \$(ENGINE_OBJS) \$(B)/spm/libsentencepiece.a \$(LIBS) -o \$@.tmp && mv \$@.tmp \$@
\$(OUT)/sim-runtime/libbmrt.so: \$(SIM_OBJS) \$(B)/sources.sim \$(B)/flags.ld
	@mkdir -p \$(@D); echo "  LINK  \$@"
	\$(Q)\$(CXX) -shared -Wl,-soname,libbmrt.so -Wl,-z,defs \$(LDFLAGS) \$(SIM_OBJS) \$(LIBS) -o \$@.tmp && mv \$@.tmp \$@
\$(OUT)/tpu-relay-agent: \$(RELAY_OBJS) \$(B)/sources.relay \$(B)/flags.ld
	@mkdir -p \$(@D); echo "  LINK  \$@"
	\$(Q)\$(CC) \$(filter-out -static-libstdc++,\$(LDFLAGS)) \$(RELAY_OBJS) -o \$@.tmp && mv \$@.tmp \$@
\$(OUT)/sim-runtime/libbmlib.so: | \$(OUT)/sim-runtime/libbmrt.so
	\$(Q)ln -sfn libbmrt.so \$@

-include \$(SPM_OBJS:.o=.d) \$(ENGINE_OBJS:.o=.d) \$(SIM_OBJS:.o=.d) \$(RELAY_OBJS:.o=.d)
.DELETE_ON_ERROR:
MK

# Inputs whose change must rebuild: the flags of each kind and the source lists (rewritten only when changed).
# The sysroot's package versions count as flags: dpkg-deb keeps the packages' old file times, so a changed
# header or library would otherwise look older than the objects.
SYSROOT_ID=$(md5sum < "$SYSROOT/var/tpudeploy/stamp" | cut -c1-32)
stamp() { printf '%s\nsysroot %s\n' "$2" "$SYSROOT_ID" > "$B/$1.new"; write_if_changed "$B/$1"; }
stamp flags.c   "$LLVM $TARGET $CFLAGS $ENGINE_INC $SIM_INC"
stamp flags.cxx "$LLVM $TARGET $CXXFLAGS $ENGINE_INC $SIM_INC"
stamp flags.spm "$LLVM $TARGET $SPM_FLAGS"
stamp flags.ld  "$LDFLAGS $LIBS"
stamp sources.engine "$ENGINE_SRCS"
stamp sources.sim "$SIM_SRCS"
stamp sources.relay "$RELAY_SRCS"
# A symlink's own time is not what make compares; keep libbmlib.so a symlink whatever happened before.
[ -L "$OUT/sim-runtime/libbmlib.so" ] || rm -f "$OUT/sim-runtime/libbmlib.so"

make --no-print-directory -f "$B/build.mk" -j"$JOBS" $([ -n "${V:-}" ] && echo V=1 || echo -s) all

# --- checks: glibc versions, what the engine needs at run time, the architecture
"$REPO/Payloads/build/check-glibc.sh" "$OUT" "$MAX_GLIBC" > "$B/check-glibc.log" \
  || { cat "$B/check-glibc.log" >&2; exit 1; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' '; }
for f in "$OUT/tpu-llm-engine" "$OUT/sim-runtime/libbmrt.so" "$OUT/tpu-relay-agent"; do
  readelf -h "$f" | grep -q 'Machine:.*AArch64' || { echo "build-aarch64: $f is not aarch64" >&2; exit 1; }
  for n in $(needed "$f"); do
    case $n in libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|ld-linux-aarch64.so.1) ;;
      *) echo "build-aarch64: $f needs $n (only glibc's libraries are allowed)" >&2; exit 1;; esac
  done
done
size() { du -h --apparent-size "$1" | cut -f1; }
echo "Payloads/aarch64: tpu-llm-engine $(size "$OUT/tpu-llm-engine"), sim-runtime/libbmrt.so $(size "$OUT/sim-runtime/libbmrt.so")," \
  "tpu-relay-agent $(size "$OUT/tpu-relay-agent")" \
  "(libbmlib.so -> libbmrt.so); needs $(needed "$OUT/tpu-llm-engine"); $(tail -1 "$B/check-glibc.log" | sed 's/.*need at most //')"
