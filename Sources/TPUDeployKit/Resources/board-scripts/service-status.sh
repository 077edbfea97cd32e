# Reports a deployment's service manager, state, engine pid and restart count. Run as root by `tpudeploy status`.
#
# usage: service-status.sh NAME
# Prints @@manager systemd|supervisor, @@state running|stopped|failed|not-installed, @@pid N, @@restarts N.
set -u
exec </dev/null
name=$1
service="tpudeploy-$name"
supervisor=/usr/local/sbin/tpu-llm-supervise
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ -f "/etc/systemd/system/$service.service" ]; then
	echo "@@manager systemd"
	state=$(systemctl show -p ActiveState --value "$service.service")
	case "$state" in active) echo "@@state running" ;; failed) echo "@@state failed" ;; *) echo "@@state stopped" ;; esac
	echo "@@pid $(systemctl show -p MainPID --value "$service.service")"
	echo "@@restarts $(systemctl show -p NRestarts --value "$service.service" 2>/dev/null || echo 0)"
elif [ -x "$supervisor" ] && { [ -d "/run/tpudeploy/$name" ] || TAG="# tpudeploy:$name" awk '
		function tagged(s, t) { t = ENVIRON["TAG"]; return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) == t }
		tagged($0) { found = 1 } END { exit !found }' /etc/rc.local 2>/dev/null; }; then
	echo "@@manager supervisor"
	set -- $("$supervisor" status "$name")
	if [ -f "/run/tpudeploy/$name/refused" ]; then
		# The supervisor runs but will not start the engine (it would run as root from a file another user can change).
		echo "@@state failed"
	elif [ "${1:-}" = running ]; then
		echo "@@state running"; echo "@@pid ${3:--}"; echo "@@restarts ${4:-0}"
	else
		echo "@@state stopped"
	fi
else
	echo "@@state not-installed"
fi
