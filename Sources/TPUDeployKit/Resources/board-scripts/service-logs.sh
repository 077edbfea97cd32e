# Prints the last lines of a deployment's engine log. Run as root by `tpudeploy logs`.
#
# usage: service-logs.sh LOG_FILE LINES
# Prints the lines, or @@error:REASON when there is no log.
set -u
exec </dev/null
log=$1 lines=$2
[ -f "$log" ] || { echo "@@error:no log at $log: the engine was never launched there (tpudeploy launch starts it)"; exit 0; }
tail -n "$lines" -- "$log"
