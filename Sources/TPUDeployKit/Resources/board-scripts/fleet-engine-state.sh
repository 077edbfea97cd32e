# What a deployment directory holds and whether its engine serves, for `fleet inspect`: the manifest push keeps,
# the engines started from the directory (pid, seconds run, the port on their command line) and what each one's
# /health says, asked on the board's own loopback (it needs no key), so that it all comes back in one round trip.
#
# usage: fleet-engine-state.sh DIRECTORY
# Prints @@now EPOCH, @@manifest_mtime EPOCH, per engine @@engine PID SECONDS PORT and @@health PID BODY (empty
# BODY: no answer within 5 s; BODY no_client: neither curl nor wget on the board), then @@manifest and its text.
set -u
exec </dev/null
dir=$1
manifest="$dir/.tpudeploy-manifest.json"
echo "@@now $(date +%s)"
[ -f "$manifest" ] && echo "@@manifest_mtime $(stat -c %Y "$manifest")"
for proc in /proc/[0-9]*; do
	pid=${proc#/proc/}
	command=$(tr '\0' '\n' < "$proc/cmdline" 2>/dev/null) || continue
	[ "$(printf '%s\n' "$command" | head -n 1)" = "$dir/tpu-llm-engine" ] || continue
	port=$(printf '%s\n' "$command" | sed -n '/^--port$/{n;p;q;}')
	echo "@@engine $pid $(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ') ${port:--}"
	case $port in '' | *[!0-9]*) continue ;; esac
	# A 503 (loading, failed) still carries the JSON body: curl without -f, wget with --content-on-error.
	if command -v curl >/dev/null 2>&1; then
		body=$(curl -s -m 5 "http://127.0.0.1:$port/health" 2>/dev/null | head -c 4096 | tr -d '\n')
	elif command -v wget >/dev/null 2>&1; then
		body=$(wget -q -T 5 -t 1 --content-on-error -O - "http://127.0.0.1:$port/health" 2>/dev/null | head -c 4096 | tr -d '\n')
	else
		body=no_client
	fi
	echo "@@health $pid $body"
done
echo "@@manifest"
head -c 4194304 "$manifest" 2>/dev/null
true
