# Creates a deployment directory once a push has passed its checks. Run as the login user by `tpudeploy push`.
#
# usage: push-make-directory.sh DIRECTORY
# Prints @@ok or @@error REASON.
set -u
exec </dev/null
d=$1
if ! out=$(mkdir -p -- "$d" 2>&1); then echo "@@error $out"; exit 0; fi
[ -w "$d" ] || { echo "@@error not writable by $(id -un)"; exit 0; }
echo @@ok
