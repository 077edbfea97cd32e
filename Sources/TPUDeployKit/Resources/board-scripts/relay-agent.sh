# The relay agent of a fleet distribution (tpudeploy's Distribution/), kept in the deployment directory as
# .tpu-relay-agent and run as the login user, like push, from a private copy checked against its sha256.
#
# usage: relay-agent.sh have DIRECTORY SHA256   prints @@have when the agent there has that sha256, else @@missing
#        relay-agent.sh install DIRECTORY      the agent's bytes on standard input; prints @@ok or @@error REASON
#        relay-agent.sh run DIRECTORY AGENT_SHA256 IDLE_SECONDS PORT [NAME SIZE SHA256 MODE PRESENT]...
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
	if [ -f "$agent" ] && [ "$got" = "$1" ]; then echo @@have; else echo @@missing; fi
	;;
install)
	# The directory may be another user's, who could put a link at a name chosen here and have us write through
	# it into a file of ours. mktemp makes a new file of ours (never through a link), dd writes it without following
	# a link put in its place since (oflag=nofollow), and the rename replaces whatever is at the agent's name
	# without writing through it. No chmod by name either: the file stays 0600, as run executes a private copy.
	t=
	if t=$(mktemp "$agent.tmp.XXXXXX") && dd of="$t" oflag=nofollow bs=65536 status=none && mv -f "$t" "$agent"; then
		echo @@ok
	else
		[ -n "$t" ] && rm -f "$t"
		echo "@@error cannot write $agent as $(id -un)"
	fi
	;;
run)
	# The deployment directory may belong to another user than the one running this (root pushing into linaro's
	# /data): run a copy in a directory of our own (mktemp -d: 0700), checked against the hash the host sent,
	# so that nobody else's file is ever executed as us.
	want=$1; shift
	[ -f "$agent" ] || { echo "@@error $agent is missing"; exit 0; }
	own=$(mktemp -d "${TMPDIR:-/tmp}/tpu-relay.XXXXXX") || { echo "@@error cannot make a private directory"; exit 0; }
	cp "$agent" "$own/agent" && chmod 700 "$own/agent" || { rm -rf "$own"; echo "@@error cannot copy $agent"; exit 0; }
	got=$( (openssl dgst -sha256 -r < "$own/agent" || sha256sum < "$own/agent") 2>/dev/null | cut -c1-64)
	[ "$got" = "$want" ] || { rm -rf "$own"; echo "@@error $agent is not the agent tpudeploy sent (changed on the board)"; exit 0; }
	echo "@@address $(set -- ${SSH_CONNECTION:-}; echo "${3:-}")"
	"$own/agent" "$d" "$@"
	status=$?
	rm -rf "$own"
	exit $status
	;;
*)
	echo "@@error unknown action $action"
	;;
esac
