# Takes a tpudeploy lock on the board (see SSH/BoardLock.swift) and holds it until its input ends. Only this
# shell holds the lock's descriptor (not the `cat` that waits), so killing the pid it records frees the lock.
#
# usage: board-lock.sh HOLDER NAME DIRECTORY...
# Answers with one line: @@locked, @@busy HOLDER, or @@unlocked REASON.
set -u
holder=$1 name=$2
shift 2
d=
for candidate in "$@"; do
  if [ -d "$candidate" ] && [ -w "$candidate" ]; then d=$candidate; break; fi
done
[ -n "$d" ] || { echo "@@unlocked no writable lock directory ($*)"; exit 0; }
command -v flock >/dev/null 2>&1 || { echo "@@unlocked the board has no flock (util-linux)"; exit 0; }
lock="$d/tpudeploy-$name.lock"
# Readable by all, writable by its creator only; a lock file someone else created is opened read-only, which
# flock accepts.
[ -e "$lock" ] || (umask 022; set -C; : > "$lock") 2>/dev/null
# Checked first: a failed redirection on `exec` ends a POSIX shell before any `||` runs.
[ -r "$lock" ] || { echo "@@unlocked cannot open $lock"; exit 0; }
exec 9<"$lock"
if ! flock -n 9; then
  # Each user writes their own holder file, writable by them alone. A record is believed only when its file
  # belongs to the user its name claims (or to root), its pid runs as that same user and, where this user may
  # look, holds this lock file open: no one can point the busy message at another user's process.
  # The newest believable record is the current holder's.
  h=
  for file in $(ls -t "$lock".holder.* 2>/dev/null); do
    [ -f "$file" ] && [ ! -L "$file" ] || continue
    owner=$(stat -c %u "$file" 2>/dev/null) || continue
    [ "$owner" = "${file##*.}" ] || [ "$owner" = 0 ] || continue
    IFS= read -r record < "$file" || [ -n "$record" ] || continue
    p=${record##*board pid }; p=${p%% *}
    case $p in ''|*[!0-9]*) continue ;; esac
    [ "$(stat -c %u "/proc/$p" 2>/dev/null)" = "$owner" ] || continue
    if [ -r "/proc/$p/fd" ]; then
      # (The shell may have moved its descriptor 9 while `cat` runs: any descriptor will do.)
      open=
      for fd in /proc/"$p"/fd/*; do [ "$fd" -ef "$lock" ] && { open=1; break; }; done
      [ -n "$open" ] || continue
    fi
    h=$record
    break
  done
  echo "@@busy $h"
  exit 0
fi
mine="$lock.holder.$(id -u)"
# A file of that name that is not this user's (put there by someone else) is not written through.
rm -f "$mine" 2>/dev/null
(umask 022; set -C; printf '%s; board pid %s\n' "$holder" "$$" > "$mine") 2>/dev/null
echo "@@locked"
cat >/dev/null 9<&-
# Not the last command: a shell that execs its last command would close 9 in itself.
exit 0
