#!/bin/bash
# Installs a tpudeploy .deb into a minimal Debian chroot (Tests/Packaging/chroot.sh) with apt, as a user would,
# and runs it there on the boot-image fixtures: --version, version --json, layout show, fix-memory --image
# --dry-run. With --sim HOST_TPUDEPLOY it then works on a board from inside the chroot: HOST_TPUDEPLOY (a build
# that runs on this host) starts a simulated EVB with `sim up` (its network namespace is reachable from the host,
# and the chroot shares the host's network); its key and known_hosts are copied into the chroot, and the
# installed tpudeploy runs init, inspect, push (refused: the sim model fits no factory heap), fix-memory on the
# board, and push again; the pushed files' sha256 are then read on the board over OpenSSH from the host.
# Leaves the cached chroot as it found it (the package purged; its Depends stay installed, which keeps the next
# run off the network). Exits non-zero, naming the check, on the first failure.
#   Tests/Packaging/deb-test.sh [--sim HOST_TPUDEPLOY] DEB SUITE...    (as root; --sim needs make sim-models)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIM_WITH=
if [ "${1:-}" = --sim ]; then SIM_WITH=$(readlink -f "$2"); shift 2; fi
DEB=$(readlink -f "$1"); shift
[ -f "$DEB" ] || { echo "deb-test: $DEB missing: run make deb" >&2; exit 1; }
VERSION=$(dpkg-deb -f "$DEB" Version)
MODEL=$REPO/build/sim-models/llama2-sim
if [ -n "$SIM_WITH" ]; then
  [ -x "$SIM_WITH" ] || { echo "deb-test: --sim $SIM_WITH is no executable" >&2; exit 1; }
  [ -f "$MODEL/llama2-sim.bmodel" ] || { echo "deb-test: $MODEL missing: run make sim-models" >&2; exit 1; }
fi
fail() { echo "deb-test [$SUITE]: $*" >&2; exit 1; }
# The checkout's build, with the checkout's profiles, and no TPU_SIM_* or other settings of the caller.
host_tpudeploy() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$SIM" TPUDEPLOY_PROFILES="$REPO/Profiles" \
    TPUDEPLOY_PAYLOADS="$REPO/Payloads" "$SIM_WITH" "$@"
}

for SUITE in "$@"; do
  ROOT=$("$REPO/Tests/Packaging/chroot.sh" "$SUITE")
  exec 9>"$ROOT.lock"; flock 9      # one test at a time in one chroot
  SIM=
  cleanup() {
    if [ -n "$SIM" ]; then
      (cd "$SIM" && host_tpudeploy sim down --state-dir "$SIM/state" >/dev/null 2>&1) || true
      rm -rf "$SIM"; SIM=
    fi
    chroot "$ROOT" dpkg --purge tpudeploy >/dev/null 2>&1 || true
    rm -rf "$ROOT/tmp/tpudeploy-test"
    umount "$ROOT/proc" 2>/dev/null || true
    umount "$ROOT/dev" 2>/dev/null || true
  }
  trap cleanup EXIT
  # /proc: the Swift runtime reads the program's arguments from /proc/self/cmdline.
  mount -t proc proc "$ROOT/proc"
  mount --bind /dev "$ROOT/dev"
  mkdir -p "$ROOT/tmp/tpudeploy-test"
  cp "$DEB" "$ROOT/tmp/tpudeploy-test/"
  "$REPO/Tests/Fixtures/make-fixtures.sh" "$ROOT/tmp/tpudeploy-test/fixtures" >/dev/null
  in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

  # apt resolves Depends from the release's own archive: a dependency the release lacks fails here.
  # Its messages are shown only on failure (without /dev/pts it says it cannot write its log, which is harmless).
  A=$ROOT/tmp/tpudeploy-test/apt.log
  in_root apt-get -qq update >"$A" 2>&1 || fail "apt-get update failed: $(cat "$A")"
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "/tmp/tpudeploy-test/$(basename "$DEB")" >"$A" 2>&1 || fail "apt-get install of $(basename "$DEB") failed: $(cat "$A")"

  got=$(in_root tpudeploy --version) || fail "tpudeploy --version failed"
  [ "$got" = "$VERSION" ] || fail "tpudeploy --version printed '$got', the package is $VERSION"
  json=$(cd / && in_root tpudeploy version --json) || fail "tpudeploy version --json failed"
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
want = {"profiles": "/usr/share/tpudeploy/Profiles", "payloads": "/usr/share/tpudeploy/Payloads",
        "board-scripts": "/usr/share/tpudeploy/board-scripts"}
found = {x["kind"]: x.get("path") for x in r["resources"]}
assert found == want, f"resources {found}, expected {want}"
assert r["libssh"].startswith("0.10."), ("not the static libssh 0.10", r["libssh"])
assert r["libfdt"] and r["linkage"] == "static", (r["libfdt"], r["linkage"])
assert [b["architecture"] for b in r["payload_builds"]] == ["aarch64"], r["payload_builds"]
assert r["commit"] and len(r["commit"]) == 40, r["commit"]
' || fail "version --json: $json"
  help=$(in_root tpudeploy --help)  # captured: `| grep -q` under pipefail fails on the writer's SIGPIPE
  grep -q 'TPUDEPLOY_HOME' <<<"$help" || fail "--help does not state where resources are looked for"

  F=/tmp/tpudeploy-test/fixtures
  layout=$(in_root tpudeploy layout show --image $F/fit-16g/emmcboot.itb --its $F/fit-16g/multi.its) \
    || fail "layout show failed: $layout"
  grep -q 'bm1684x_evb_v0.0.dtb' <<<"$layout" || fail "layout show lists no EVB dtb: $layout"
  plan=$(in_root tpudeploy fix-memory --image $F/fit-16g/emmcboot.itb --dtb bm1684x_evb_v0.0 --preset llm \
    --output /tmp/tpudeploy-test/new.itb --dry-run --json) || fail "fix-memory --dry-run failed: $plan"
  grep -q '"tpudeploy.fix-memory-image/1"' <<<"$plan" || fail "fix-memory --dry-run: $plan"
  [ ! -e "$ROOT/tmp/tpudeploy-test/new.itb" ] || fail "fix-memory --dry-run wrote its output"
  in_root test -s /usr/share/man/man1/tpudeploy.1.gz || fail "no man page"
  in_root test -s /usr/share/bash-completion/completions/tpudeploy || fail "no bash completion"
  release=$(in_root sh -c '. /etc/os-release; echo $PRETTY_NAME')
  echo "deb-test [$SUITE]: $(basename "$DEB") installs and runs ($release)"

  if [ -n "$SIM_WITH" ]; then
    # The board: started on the host (namespaces, bridges), with a state directory outside the chroot.
    SIM=$(mktemp -d /tmp/tpd-deb-sim-XXXXXX)
    up=$(cd "$SIM" && host_tpudeploy sim up --state-dir "$SIM/state" \
      --board 1684x_evb --boot-delay 0 --no-config --json 2>&1) || fail "sim up on the host failed: $up"
    read -r host key known < <(python3 -c 'import json, sys; b = json.loads(sys.argv[1])[0]
print(b["host"], b["identity_file"], b["known_hosts_file"])' "$up") || fail "sim up --json: $up"
    # What a user copies from the machine that set the board up: the login key and the board's host key.
    P=/tmp/tpudeploy-test/project
    mkdir -p "$ROOT$P/ssh" "$ROOT$P/model" "$ROOT$P/home"
    install -m 0600 "$key" "$ROOT$P/ssh/id_ed25519"
    install -m 0644 "$known" "$ROOT$P/ssh/known_hosts"
    cp "$MODEL/llama2-sim.bmodel" "$MODEL/tokenizer.model" "$ROOT$P/model/"
    # HOME inside the test directory: the hash cache and anything else per user goes away with it.
    on_board() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$P/home LANG=C.UTF-8 sh -c 'cd "$1" && shift && exec "$@"' - "$P" "$@"; }

    out=$(on_board tpudeploy init --host "$host" --user root --identity $P/ssh/id_ed25519 --known-hosts $P/ssh/known_hosts \
      --board 1684x_evb 2>&1) || fail "init --host failed: $out"
    out=$(on_board tpudeploy init --deployment llama2-sim --profile llama2-sim --bmodel $P/model/llama2-sim.bmodel \
      --tokenizer $P/model/tokenizer.model 2>&1) || fail "init --deployment failed: $out"
    report=$(on_board tpudeploy inspect --json 2>"$SIM/stderr") || fail "inspect failed: $(cat "$SIM/stderr")"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["schema"] == "tpudeploy.inspect/2" and r["board"] == "1684x_evb" and r["chip"] == "BM1684X", r
heaps = {h["name"]: h for h in r["heaps"]}
assert heaps["npu"]["live_bytes"] == 3950 << 20, heaps["npu"]   # the EVB factory layout
' "$report" || fail "inspect --json: $report"
    # The sim board runs this host's architecture (x86_64): push looks for that engine beside the installed
    # binary, then in the installed payloads, which hold only the boards' aarch64 one.
    if out=$(on_board tpudeploy push --dry-run 2>&1); then fail "push --dry-run found an x86_64 engine: $out"; fi
    grep -qF "looked at /usr/bin/tpu-llm-engine, /usr/share/tpudeploy/Payloads/$(uname -m)/tpu-llm-engine" <<<"$out" \
      || fail "push looked for the engine elsewhere: $out"
    # So the model files are pushed, no engine. Its 4608 MiB neuron block fits none of the factory heaps: refused
    # before a byte moves.
    if out=$(on_board tpudeploy push --no-engine 2>&1); then fail "push on the factory layout was not refused: $out"; fi
    grep -q 'tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim' <<<"$out" || fail "push's refusal names no fix: $out"
    out=$(on_board tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim --yes 2>&1) || fail "fix-memory on the board failed: $out"
    pushed=$(on_board tpudeploy push --no-engine --json 2>"$SIM/stderr") || fail "push failed: $(cat "$SIM/stderr")"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["status"] == "pushed", r
assert sorted((f["name"], f["action"]) for f in r["files"]) == [("llama2-sim.bmodel", "uploaded"), ("tokenizer.model", "uploaded")], r["files"]
' "$pushed" || fail "push --json: $pushed"
    # Read back on the board with OpenSSH from the host, not with the tool under test.
    sums=$(ssh -n -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$host" \
      'cd /data/tpudeploy/llama2-sim && sha256sum llama2-sim.bmodel tokenizer.model') || fail "ssh to the board failed"
    want=$(cd "$MODEL" && sha256sum llama2-sim.bmodel tokenizer.model)
    [ "$sums" = "$want" ] || fail "the board holds other files than the model's: $sums (expected $want)"
    echo "deb-test [$SUITE]: inspect, push, fix-memory, push on a simulated board from $release"
  fi
  cleanup; trap - EXIT
done
