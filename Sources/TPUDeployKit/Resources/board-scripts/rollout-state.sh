# Where a deployment directory stands, for `fleet rollout`'s one look at a board: the size of each payload file
# present and when it last changed, the engines serving from the directory with how long they have run, and
# the manifest push keeps.
# $1: the deployment directory; $2...: the payload's file names on the board.
dir=$1
shift
manifest="$dir/.tpudeploy-manifest.json"
echo "@@now $(date +%s)"
[ -f "$manifest" ] && echo "@@manifest_mtime $(stat -c %Y "$manifest")"
for name in "$@"; do
  [ -f "$dir/$name" ] && echo "@@size $(stat -c '%s %Y' "$dir/$name") $name"
done
# An engine runs "on these files" when it was started from this directory after the manifest last changed.
for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  command=$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null) || continue
  case "$command" in
    "$dir/tpu-llm-engine "*) echo "@@engine $pid $(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')" ;;
  esac
done
echo "@@manifest"
head -c 4194304 "$manifest" 2>/dev/null
true
