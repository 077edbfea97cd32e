# Included by service-install.sh and service-stop.sh (BoardScript: `# @include`); needs rc=/etc/rc.local.
# rc.local holds one line per deployment and is edited by launch and stop of any of them: one edit at a time (a
# lock in root's /run, which no other user can create first), through a temporary file of this edit's own.
rc_edit() { # AWK_PROGRAM (TAG and LINE in the environment)
	exec 9>/run/tpudeploy-rc-local.lock || return 1
	if command -v flock >/dev/null 2>&1; then flock -w 60 9 || return 1; fi
	rc_tmp=$(mktemp /run/tpudeploy-rc-local.XXXXXX) || return 1
	awk "$1" "$rc" > "$rc_tmp" && cat "$rc_tmp" > "$rc"
	rc_status=$?
	rm -f "$rc_tmp"
	exec 9>&-
	return $rc_status
}
