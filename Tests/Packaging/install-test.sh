#!/bin/bash
# `make install-files DESTDIR=… PREFIX=/usr/local` (make install's copy, from the release binary `make deb` or
# `make release` built: no build here, a test holds SwiftPM's lock) then `make uninstall` with the same: the installed binary, run from
# a folder that is no checkout, must find its resources in DESTDIR/usr/local/share/tpudeploy (beside its bin/),
# and uninstall must leave no file behind.
#   Tests/Packaging/install-test.sh
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d /tmp/tpd-install-XXXXXX); trap 'rm -rf "$T"' EXIT
fail() { echo "install-test: $*" >&2; exit 1; }
make -s -C "$REPO" install-files DESTDIR="$T/dest" PREFIX=/usr/local >"$T/make.log" 2>&1 || { cat "$T/make.log" >&2; fail "make install failed"; }
P=$T/dest/usr/local
for f in bin/tpudeploy share/man/man1/tpudeploy.1.gz share/bash-completion/completions/tpudeploy \
         share/zsh/site-functions/_tpudeploy share/fish/vendor_completions.d/tpudeploy.fish \
         share/tpudeploy/Profiles/boards share/tpudeploy/Payloads/aarch64/tpu-llm-engine \
         share/tpudeploy/board-scripts/service-status.sh share/doc/tpudeploy/copyright share/tpudeploy/build-info.json; do
  [ -e "$P/$f" ] || fail "make install did not install $f"
done
mkdir -p "$T/elsewhere"
json=$(cd "$T/elsewhere" && env -u TPUDEPLOY_PROFILES -u TPUDEPLOY_PAYLOADS -u TPUDEPLOY_HOME "$P/bin/tpudeploy" version --json)
echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
share = sys.argv[1] + "/share/tpudeploy/"
for x in r["resources"]:
    assert x["path"] == share + {"profiles": "Profiles", "payloads": "Payloads", "board-scripts": "board-scripts"}[x["kind"]], x
    assert x["origin"] == "installed", x
' "$P" || fail "the installed binary does not use its own share/tpudeploy: $json"
# Captured first: with pipefail, `zcat | grep -q` fails when grep stops reading early and zcat gets SIGPIPE.
man=$(zcat "$P/share/man/man1/tpudeploy.1.gz")
grep -q '^\.SS tpudeploy fix\\-memory' <<<"$man" || fail "the man page has no fix-memory section"
make -s -C "$REPO" uninstall DESTDIR="$T/dest" PREFIX=/usr/local >"$T/make.log" 2>&1 || { cat "$T/make.log" >&2; fail "make uninstall failed"; }
left=$(find "$T/dest" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install-test: make install and make uninstall under $T/dest/usr/local"
