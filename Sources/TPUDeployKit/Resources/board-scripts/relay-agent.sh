# The relay agent of a fleet distribution (tpudeploy's Distribution/), kept in the deployment directory as
# .tpu-relay-agent and run as the login user, like push.
#
# usage: relay-agent.sh have DIRECTORY SHA256   prints @@have when the agent there has that sha256, else @@missing
#        relay-agent.sh install DIRECTORY      the agent's bytes on standard input; prints @@ok or @@error REASON
#        relay-agent.sh run DIRECTORY IDLE_SECONDS PORT [NAME SIZE SHA256 MODE PRESENT]...
#          prints @@address (this board's address on the host's SSH connection, which the boards of one LAN
#          reach it at), then runs the agent, whose standard input and output are the host's channel: the
#          rollout's secret arrives there, never on a command line.
set -u
action=$1 d=$2
shift 2
agent=$d/.tpu-relay-agent
case $action in
have)
	got=$( (openssl dgst -sha256 -r < "$agent" || sha256sum < "$agent") 2>/dev/null | cut -c1-64)
	if [ -x "$agent" ] && [ "$got" = "$1" ]; then echo @@have; else echo @@missing; fi
	;;
install)
	t=$agent.tmp.$$
	if cat > "$t" && chmod 700 "$t" && mv -f "$t" "$agent"; then echo @@ok; else rm -f "$t"; echo "@@error cannot write $agent as $(id -un)"; fi
	;;
run)
	[ -x "$agent" ] || { echo "@@error $agent is missing"; exit 0; }
	echo "@@address $(set -- ${SSH_CONNECTION:-}; echo "${3:-}")"
	exec "$agent" "$d" "$@"
	;;
*)
	echo "@@error unknown action $action"
	;;
esac
