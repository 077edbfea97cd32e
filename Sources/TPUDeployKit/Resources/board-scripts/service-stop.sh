# Stops a deployment's engine and keeps it from starting at boot. Run as root by `tpudeploy stop`.
#
# usage: service-stop.sh NAME DIRECTORY
# Prints @@manager systemd|supervisor and @@state stopped, or @@error:REASON when there is no such deployment.
set -u
exec </dev/null
name=$1 dir=$2
service="tpudeploy-$name"
supervisor=/usr/local/sbin/tpu-llm-supervise
tag="# tpudeploy:$name"
rc=/etc/rc.local
found=
# @include rc-local-edit.sh

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ -f "/etc/systemd/system/$service.service" ]; then
	systemctl disable --now "$service.service" >/dev/null 2>&1
	echo "@@manager systemd"
	found=1
else
	if [ -x "$supervisor" ]; then
		[ "$("$supervisor" status "$name")" = stopped ] || found=1
		"$supervisor" stop "$name" >/dev/null
	fi
	# A supervisor of an older tpudeploy, believed only when /proc shows it (its pid file is another user's).
	old=$(head -c 20 "$dir/run/supervisor.pid" 2>/dev/null)
	case $old in ''|*[!0-9]*) ;; *)
		if tr '\0' ' ' < "/proc/$old/cmdline" 2>/dev/null | grep -qF "$dir/service/tpu-llm-supervise run $dir"; then kill -TERM "$old"; found=1; fi ;;
	esac
	if [ -f "$rc" ] && TAG="$tag" awk 'function tagged(s, t) { t = ENVIRON["TAG"]; return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) == t }
			tagged($0) { found = 1 } END { exit !found }' "$rc"; then
		found=1
		TAG="$tag" rc_edit 'function tagged(s, t) { t = ENVIRON["TAG"]; return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) == t }
			!tagged($0) { print }'
	fi
	echo "@@manager supervisor"
fi
if [ -z "$found" ] && [ ! -e "$dir/.tpudeploy-manifest.json" ]; then
	echo "@@error:there is no deployment $name on this board: no service tpudeploy-$name runs or starts at boot, and nothing was pushed to $dir. Check --name and --remote-dir (or deployment: in tpudeploy.yaml)"
	exit 1
fi
echo "@@state stopped"
