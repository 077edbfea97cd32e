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
  # Each user writes their own holder file, writable by them alone; one not owned by the user its name
  # claims (or by root) was put there by someone else and is ignored. The newest is the current holder's,
  # if its pid still runs (else the record is an old one).
  h=
  for file in $(ls -t "$lock".holder.* 2>/dev/null); do
    owner=$(stat -c %u "$file" 2>/dev/null) || continue
    [ "$owner" = "${file##*.}" ] || [ "$owner" = 0 ] || continue
    [ -f "$file" ] && [ ! -L "$file" ] || continue
    h=$(head -c 400 "$file" | tr '\n' ' ')
    break
  done
  p=${h##*board pid }; p=${p%% *}
  case $p in ''|*[!0-9]*) h= ;; *) [ -d "/proc/$p" ] || h= ;; esac
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
