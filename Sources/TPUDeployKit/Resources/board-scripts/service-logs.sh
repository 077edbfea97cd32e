# Prints the last lines of a deployment's engine log and, on a board where systemd runs the service, of
# systemd's journal for it: an engine systemd could not start (a missing file, the wrong architecture) leaves
# its reason there, not in the log. Run as root by `tpudeploy logs` and by `launch` when the engine fails.
#
# usage: service-logs.sh LOG_FILE LINES SERVICE
# Prints the lines, or @@error:REASON when there is neither a log nor a journal.
set -u
exec </dev/null
log=$1 lines=$2 service=$3
journal=
if [ -d /run/systemd/system ] && [ -f "/etc/systemd/system/$service.service" ] && command -v journalctl >/dev/null 2>&1; then
	journal=$(journalctl -u "$service.service" -n "$lines" --no-pager -o cat 2>/dev/null)
fi
if [ ! -f "$log" ] && [ -z "$journal" ]; then
	echo "@@error:no log at $log: the engine was never launched there (tpudeploy launch starts it)"
	exit 0
fi
[ -f "$log" ] && tail -n "$lines" -- "$log"
[ -z "$journal" ] || { echo "-- systemd's journal of $service.service:"; printf '%s\n' "$journal"; }
