# Reports what a push needs to know about the board, changing nothing (a dry run or a refused push leaves no
# trace): the architecture, free space where the deployment directory is or will be, its manifest, and the sizes
# of the final and temporary (.partial) files of NAMES. Run as the login user by `tpudeploy push`.
#
# usage: push-probe.sh DIRECTORY MANIFEST_NAME [NAME...]
# Prints @@arch, @@uid, @@owner UID MODE USER PATH (the directory and its parent, where they exist), @@df … @@end, @@manifest_mtime EPOCH (when there is a manifest), @@manifest, one
# @@file FINAL_SIZE PARTIAL_SIZE FINAL_MTIME NAME per name (- where absent), or @@error REASON.
set -u
exec </dev/null
d=$1 manifest=$2
shift 2
# The directory, or the nearest directory above it that exists (where push will create it).
e=$d
while [ ! -d "$e" ]; do e=$(dirname -- "$e"); done
if [ "$e" = "$d" ]; then
	[ -w "$d" ] || { echo "@@error not writable by $(id -un)"; exit 0; }
else
	[ -w "$e" ] || { echo "@@error cannot be created: $e is not writable by $(id -un)"; exit 0; }
fi
echo "@@arch $(uname -m)"
echo "@@uid $(id -u)"
# The deployment directory and the one above it, where they exist: owner and mode. A push as root into a
# directory another user can change could be made to write wherever that user's links point.
for p in "$d" "$(dirname -- "$d")"; do
	[ -d "$p" ] && echo "@@owner $(stat -L -c '%u %a %U' -- "$p") $p"
done
echo @@df; df -Pk -- "$e"; echo @@end
[ -f "$d/$manifest" ] && echo "@@manifest_mtime $(stat -c %Y -- "$d/$manifest")"
printf '@@manifest '; head -c 4194304 -- "$d/$manifest" 2>/dev/null | tr -d '\n'; echo
for name in "$@"; do
	echo "@@file $(stat -c %s -- "$d/$name" 2>/dev/null || echo -) $(stat -c %s -- "$d/$name.partial" 2>/dev/null || echo -)" \
		"$(stat -c %Y -- "$d/$name" 2>/dev/null || echo -) $name"
done
