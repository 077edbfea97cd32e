# Installs (or re-installs with a new command line) a deployment's engine service and starts it. Run as root by
# `tpudeploy launch`; every value is an argument, none is part of this text.
#
# usage: service-install.sh NAME DIRECTORY USER SUPERVISOR_TEXT UNIT_TEXT RC_LOCAL_LINE ENGINE [ARGUMENT...]
#   SUPERVISOR_TEXT  Payloads/service/tpu-llm-supervise, installed root-owned as /usr/local/sbin/tpu-llm-supervise
#   UNIT_TEXT        the systemd unit, with @USER@ where the engine's user goes
#   RC_LOCAL_LINE    the command /etc/rc.local runs at boot where there is no systemd
# Prints @@runas USER, @@manager systemd|supervisor, or @@error:REASON.
set -u
exec </dev/null
name=$1 dir=$2 user=$3 supervisor_text=$4 unit_text=$5 rc_line=$6
shift 6
engine=$1
service="tpudeploy-$name"
supervisor=/usr/local/sbin/tpu-llm-supervise
tag="# tpudeploy:$name"
rc=/etc/rc.local
fail() { echo "@@error:$*"; exit 1; }
# @include rc-local-edit.sh

[ -f "$engine" ] && [ -x "$engine" ] || fail "the engine $engine is not on the board or not executable; run tpudeploy push first"

# The supervisor is root's, in a directory only root can change: rc.local runs it as root at every boot.
mkdir -p /usr/local/sbin || fail "cannot create /usr/local/sbin"
tmp=$(mktemp /usr/local/sbin/.tpu-llm-supervise.XXXXXX) || fail "cannot write in /usr/local/sbin"
if ! { printf '%s\n' "$supervisor_text" > "$tmp" && chown 0:0 "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$supervisor"; }; then
	rm -f "$tmp"
	fail "cannot install $supervisor"
fi

verdict=$("$supervisor" runas "$user" "$engine")
case $verdict in
"@@runas "*) as=${verdict#@@runas } ;;
*) fail "the engine will not be started: ${verdict#@@refuse }. It would run as root from a file another user can change; make every directory above it root's alone (chmod go-w, chown root), or push and launch as the user who owns it (--user)" ;;
esac
case $as in ''|*[!A-Za-z0-9._-]*) fail "unexpected user name from the board: $as" ;; esac
echo "@@runas $as"
uid=$(id -u "$as") gid=$(id -g "$as")
if [ "$uid" != 0 ] && ! command -v setpriv >/dev/null 2>&1; then
	fail "the board has no setpriv (util-linux), which runs the engine as $as: install util-linux"
fi

# The log is the engine user's: created as that user, so root writes nothing where another user points it.
if [ "$uid" = 0 ]; then
	# A log directory an engine of another user left is that user's, and so are the links in it: a root
	# engine would append wherever they point. Root takes it back (the deployment directory is root's alone
	# here, as the verdict above requires, so nobody else can put anything in it afterwards).
	[ -L "$dir/log" ] && rm -f "$dir/log"
	mkdir -p "$dir/log" && chown -h 0:0 "$dir/log" && chmod 0755 "$dir/log" || fail "cannot create $dir/log as root's (is /data full?)"
	find "$dir/log" -mindepth 1 -maxdepth 1 \( -type l -o ! -user 0 \) -exec rm -f {} + 2>/dev/null
elif ! setpriv --reuid="$uid" --regid="$gid" --init-groups -- mkdir -p "$dir/log" 2>/dev/null; then
	# A root-owned deployment directory whose engine runs as $as (who can change a directory above it).
	if [ "$(stat -c %u "$dir")" = 0 ] && { [ -d "$dir/log" ] || mkdir "$dir/log"; } && chown -h "$uid:$gid" "$dir/log"; then :; else
		fail "$as cannot create $dir/log, and the engine runs as $as: push and launch as $as, or chown -R $as $dir"
	fi
fi

# The API key file (written by launch before this script) is read by the engine, so it is the engine user's: that
# user is known only now (root may hand the engine to the user who owns a directory above it).
key="$dir/service/api-key"
if [ -f "$key" ] && [ ! -L "$key" ]; then chown -h "$uid:$gid" "$key" && chmod 0600 "$key" || fail "cannot give $key to $as"; fi

# A supervisor of an older tpudeploy ran from the deployment directory: stop it. Its pid file is another
# user's, so the pid is believed only when /proc shows that supervisor.
old=$(head -c 20 "$dir/run/supervisor.pid" 2>/dev/null)
case $old in ''|*[!0-9]*) ;; *)
	if tr '\0' ' ' < "/proc/$old/cmdline" 2>/dev/null | grep -qF "$dir/service/tpu-llm-supervise run $dir"; then kill -TERM "$old"; sleep 1; fi ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	unit="/etc/systemd/system/$service.service"
	printf '%s\n' "$unit_text" | sed "s/@USER@/$as/g" > "$unit.tmp" && mv -f "$unit.tmp" "$unit" || fail "cannot write $unit"
	systemctl daemon-reload && systemctl enable "$service.service" >/dev/null 2>&1 && systemctl restart "$service.service" \
		|| fail "systemctl could not start $service: $(systemctl status "$service.service" 2>&1 | tail -n 3 | tr '\n' ' ')"
	echo "@@manager systemd"
else
	"$supervisor" stop "$name" >/dev/null
	[ -f "$rc" ] || printf '#!/bin/sh -e\nexit 0\n' > "$rc"
	# One line per deployment, tagged at its end, replaced on every launch (before rc.local's `exit 0`).
	TAG="$tag" LINE="$rc_line $tag" rc_edit '
		function tagged(s, t) { t = ENVIRON["TAG"]; return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) == t }
		tagged($0) { next }
		/^exit 0/ && !done { print ENVIRON["LINE"]; done = 1 }
		{ print }
		END { if (!done) print ENVIRON["LINE"] }' || fail "cannot add the engine to $rc"
	chmod 0755 "$rc"
	"$supervisor" start "$name" "$user" "$dir" "$@" >/dev/null || fail "the supervisor did not start"
	echo "@@manager supervisor"
fi
