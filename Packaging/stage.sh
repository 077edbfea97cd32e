#!/bin/bash
# Lays out an installed tpudeploy under DESTDIR/PREFIX: the binary, its resources in share/tpudeploy (the layout
# ResourceLocator looks for beside PREFIX/bin), completions and a man page generated from the binary's argument
# parser, the docs, and build-info.json (git commit and linked library versions the binary cannot learn itself).
# `make install` runs it with DESTDIR empty, `make deb` into the package's root.
#   Packaging/stage.sh BINARY DESTDIR PREFIX LINKAGE
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$1 DESTDIR=$2 PREFIX=$3 LINKAGE=${4:-dynamic}
ROOT=$DESTDIR$PREFIX
SHARE=$ROOT/share/tpudeploy
for f in "$REPO/Payloads/aarch64/tpu-llm-engine" "$REPO/Payloads/aarch64/sim-runtime/libbmrt.so" "$REPO/Payloads/aarch64/tpu-relay-agent"; do
  [ -f "$f" ] || { echo "stage: $f missing: run make cross first" >&2; exit 1; }
done
VERSION=$("$BIN" --version)

install -d "$ROOT/bin" "$SHARE" "$SHARE/Payloads" "$ROOT/share/man/man1" "$ROOT/share/doc/tpudeploy/docs"
install -m 0755 "$BIN" "$ROOT/bin/tpudeploy"
# Profiles and board scripts are data: 0644 files. The payloads keep their modes (the engine and the supervisor
# are executables that push copies to boards as they are).
rsync -r --delete --chmod=D0755,F0644 "$REPO/Profiles/" "$SHARE/Profiles/"
rsync -r --delete --chmod=D0755,F0644 "$REPO/Sources/TPUDeployKit/Resources/board-scripts/" "$SHARE/board-scripts/"
rsync -rlp --delete "$REPO/Payloads/service" "$REPO/Payloads/aarch64" "$SHARE/Payloads/"
chmod -R u=rwX,go=rX "$SHARE/Payloads"

# Completions where each shell looks for packaged ones (Debian's vendor paths under /usr, site paths elsewhere).
if [ "$PREFIX" = /usr ]; then ZSH_DIR=share/zsh/vendor-completions; else ZSH_DIR=share/zsh/site-functions; fi
install -d "$ROOT/share/bash-completion/completions" "$ROOT/$ZSH_DIR" "$ROOT/share/fish/vendor_completions.d"
# bash sources the file: no #! line.
"$BIN" --generate-completion-script bash | sed '1{/^#!/d}' > "$ROOT/share/bash-completion/completions/tpudeploy"
"$BIN" --generate-completion-script zsh > "$ROOT/$ZSH_DIR/_tpudeploy"
"$BIN" --generate-completion-script fish > "$ROOT/share/fish/vendor_completions.d/tpudeploy.fish"
chmod 0644 "$ROOT/share/bash-completion/completions/tpudeploy" "$ROOT/$ZSH_DIR/_tpudeploy" "$ROOT/share/fish/vendor_completions.d/tpudeploy.fish"

DUMP=$(mktemp); trap 'rm -f "$DUMP"' EXIT
"$BIN" --experimental-dump-help > "$DUMP"
python3 "$REPO/Packaging/make-manpage.py" "$DUMP" "$VERSION" | gzip -9n > "$ROOT/share/man/man1/tpudeploy.1.gz"
chmod 0644 "$ROOT/share/man/man1/tpudeploy.1.gz"

install -m 0644 "$REPO/README.md" "$ROOT/share/doc/tpudeploy/README.md"
install -m 0644 "$REPO"/docs/*.md "$ROOT/share/doc/tpudeploy/docs/"
install -m 0644 "$REPO/Packaging/copyright" "$ROOT/share/doc/tpudeploy/copyright"

COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo "")
LIBFDT=$(dpkg-query -W -f '${Version}' libfdt-dev 2>/dev/null | sed 's/-[^-]*$//')
LIBSSH=$(pkg-config --modversion libssh 2>/dev/null || echo "")
python3 - "$SHARE/build-info.json" "$COMMIT" "$LIBFDT" "$LIBSSH" "$LINKAGE" <<'PY'
import json, sys
path, commit, libfdt, libssh, linkage = sys.argv[1:]
json.dump({"commit": commit or None, "libfdt": libfdt or None, "libssh": libssh or None, "linkage": linkage},
          open(path, "w"), indent=2)
PY
chmod 0644 "$SHARE/build-info.json"
