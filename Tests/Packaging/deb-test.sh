#!/bin/bash
# Installs a tpudeploy .deb into a minimal Debian chroot (Tests/Packaging/chroot.sh) with apt, as a user would,
# and runs it there on the boot-image fixtures: --version, version --json, layout show, fix-memory --image
# --dry-run. Leaves the cached chroot as it found it (the package purged; its Depends stay installed, which
# keeps the next run off the network). Exits non-zero, naming the check, on the first failure.
#   Tests/Packaging/deb-test.sh DEB SUITE...    (as root)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEB=$(readlink -f "$1"); shift
[ -f "$DEB" ] || { echo "deb-test: $DEB missing: run make deb" >&2; exit 1; }
VERSION=$(dpkg-deb -f "$DEB" Version)
fail() { echo "deb-test [$SUITE]: $*" >&2; exit 1; }

for SUITE in "$@"; do
  ROOT=$("$REPO/Tests/Packaging/chroot.sh" "$SUITE")
  exec 9>"$ROOT.lock"; flock 9      # one test at a time in one chroot
  cleanup() {
    chroot "$ROOT" dpkg --purge tpudeploy >/dev/null 2>&1 || true
    rm -rf "$ROOT/tmp/tpudeploy-test"
    umount "$ROOT/proc" 2>/dev/null || true
    umount "$ROOT/dev" 2>/dev/null || true
  }
  trap cleanup EXIT
  mount -t proc proc "$ROOT/proc"
  mount --bind /dev "$ROOT/dev"
  mkdir -p "$ROOT/tmp/tpudeploy-test"
  cp "$DEB" "$ROOT/tmp/tpudeploy-test/"
  "$REPO/Tests/Fixtures/make-fixtures.sh" "$ROOT/tmp/tpudeploy-test/fixtures" >/dev/null
  in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

  # apt resolves Depends from the release's own archive: a dependency the release lacks fails here.
  in_root apt-get -qq update >/dev/null
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "/tmp/tpudeploy-test/$(basename "$DEB")" >/dev/null || fail "apt-get install of $(basename "$DEB") failed"

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
  echo "$layout" | grep -q 'bm1684x_evb_v0.0.dtb' || fail "layout show lists no EVB dtb: $layout"
  plan=$(in_root tpudeploy fix-memory --image $F/fit-16g/emmcboot.itb --dtb bm1684x_evb_v0.0 --preset llm \
    --output /tmp/tpudeploy-test/new.itb --dry-run --json) || fail "fix-memory --dry-run failed: $plan"
  echo "$plan" | grep -q '"tpudeploy.fix-memory-image/1"' || fail "fix-memory --dry-run: $plan"
  [ ! -e "$ROOT/tmp/tpudeploy-test/new.itb" ] || fail "fix-memory --dry-run wrote its output"
  in_root test -s /usr/share/man/man1/tpudeploy.1.gz || fail "no man page"
  in_root test -s /usr/share/bash-completion/completions/tpudeploy || fail "no bash completion"
  echo "deb-test [$SUITE]: $(basename "$DEB") installs and runs ($(in_root sh -c '. /etc/os-release; echo $PRETTY_NAME'))"
  cleanup; trap - EXIT
done
