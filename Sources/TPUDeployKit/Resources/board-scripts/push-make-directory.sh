# Creates a deployment directory once a push has passed its checks. Run as the login user by `tpudeploy push`.
#
# usage: push-make-directory.sh DIRECTORY
# Prints @@created N (how many levels of DIRECTORY it made: 0 when it existed), then @@ok, or @@error REASON.
set -u
exec </dev/null
d=$1
# How many directories mkdir -p will make, so that a push refused afterwards (damaged weights are found while
# they are sent) can take them away again and leave the board as it found it.
levels=0 e=$d
while [ ! -d "$e" ]; do levels=$((levels + 1)); e=$(dirname -- "$e"); done
if ! out=$(mkdir -p -- "$d" 2>&1); then echo "@@error $out"; exit 0; fi
[ -w "$d" ] || { echo "@@error not writable by $(id -un)"; exit 0; }
echo "@@created $levels"
echo @@ok
