#!/bin/bash
# PID 1 of a simulated BM1684X board (tpudeploy simulator). Runs inside the board's own pid, mount, UTS and
# network namespaces: builds the board's view of the file system from its host-side state directory, boots
# (validating /boot/emmcboot.itb with U-Boot's tools, see boot.sh) and serves reboot/poweroff requests.
#
# usage: board-init.sh BOARD_STATE_DIR
# Signals: USR1 = reboot, USR2 = poweroff, TERM = stop the board (sim down).
set -u
host_dir="$1"
S=/run/tpudeploy-sim   # where the board sees its own state directory
exec >>"$host_dir/boot.log" 2>&1 </dev/null
. "$host_dir/board.env"

log() { printf '[%s] %s\n' "$(date '+%H:%M:%S.%3N')" "$*"; }
set_status() { printf '%s\n' "$1" > "$S/status.tmp" && mv -f "$S/status.tmp" "$S/status"; }

# --- the board's file system ---------------------------------------------------------------------------
bind() { # source target
	mount --bind "$1" "$2" || { log "cannot bind $1 on $2"; exit 1; }
}
mount -t tmpfs -o mode=0755,size=32m tmpfs /run || exit 1
# /run as a boot leaves it: emptied at every boot (a tmpfs on a real board), but for the state directory's mount.
fresh_run() {
	find /run -mindepth 1 -maxdepth 1 ! -path "$S" -exec rm -rf {} + 2>/dev/null
	mkdir -p "$S" /run/sshd /run/sudo /run/lock
	chmod 0755 /run/sshd
	chmod 1777 /run/lock   # as on Ubuntu: where any user's tools keep their lock files
}
fresh_run
mount --rbind "$host_dir" "$S" || exit 1
hostname "$BOARD_NAME"
bind "$S/boot" /boot
mkdir -p /data   # the only directory the board may create on the host's root: a mount point, left empty
bind "$S/data" /data
mount -t tmpfs -o mode=0755,size=1m tmpfs /opt && mkdir -p /opt/sophon && bind "$S/opt-sophon" /opt/sophon
bind "$S/home" /home
bind "$S/root" /root
bind "$S/usr-local-bin" /usr/local/bin
bind "$S/usr-local-sbin" /usr/local/sbin
# The board's own /etc, as a real board has: the host's below, what the board writes kept in its state directory
# (and over reboots). Without it, files tpudeploy writes next to /etc/rc.local or a unit land in the host's /etc,
# shared by every board. A host whose file system cannot take an overlay upper keeps the shared /etc, said in the log.
mkdir -p "$S/etc-written" "$S/.etc-work"
if ! mount -t overlay overlay -o "lowerdir=/etc,upperdir=$S/etc-written,workdir=$S/.etc-work" /etc; then
	log "no overlay for /etc here: the board writes into the host's /etc"
fi
# rc.local is a mount point for the board's own file (in the host's /etc too when there is no overlay: empty, like /data).
[ -e /etc/rc.local ] || { : > /etc/rc.local && chmod 0644 /etc/rc.local; }
for f in passwd shadow group sudoers hosts hostname os-release rc.local; do bind "$S/etc/$f" "/etc/$f"; done
bind "$S/firmware" /sys/firmware
bind "$S/debugfs" /sys/kernel/debug
bind "$S/meminfo" /proc/meminfo
# Sophgo's SoC software as the real board has it: login shells get bm-smi on their PATH from profile.d only;
# dpkg knows sophon-soc-libsophon; the bmtpu driver shows its version; the kernel its build string (uname -v).
bind "$S/etc/profile.d" /etc/profile.d
bind "$S/dpkg-status" /var/lib/dpkg/status
bind "$S/sys-module" /sys/module
bind "$S/kernel-version" /proc/sys/kernel/version
# A new boot id every boot, as the kernel gives: how tools tell a board that rebooted from one that did not.
[ -f "$S/boot_id" ] || cat /proc/sys/kernel/random/uuid > "$S/boot_id"
bind "$S/boot_id" /proc/sys/kernel/random/boot_id
ip link set lo up 2>/dev/null

# --- power states -------------------------------------------------------------------------------------
stop_everything() { # every process of the board but this one
	kill -KILL -1 2>/dev/null
	local i
	for i in $(seq 200); do
		kill -0 -1 2>/dev/null || return 0
		sleep 0.02
	done
	log "some processes did not stop"
}

boot() {
	stop_everything
	fresh_run
	set_status booting
	log "boot: checking /boot/emmcboot.itb"
	local reason
	if ! reason=$(bash "$S/init/boot.sh" 2>>"$S/boot.log"); then
		log "boot failed: $reason"
		set_status "bricked: ${reason:-boot image check failed}"
		return
	fi
	log "boot: layout published; waiting ${BOOT_DELAY}s"
	sleep "$BOOT_DELAY"
	/usr/sbin/sshd -D -f "$S/ssh/sshd_config" -E "$S/sshd.log" &
	local i
	for i in $(seq 250); do
		if [ -n "$(ss -Hltn 'sport = :22' 2>/dev/null)" ]; then
			set_status up
			log "up"
			# What Ubuntu's rc-local.service does: services installed by tpudeploy start at every boot.
			if [ -x /etc/rc.local ]; then
				setsid /etc/rc.local >>"$S/rc.local.log" 2>&1 </dev/null &
			fi
			return
		fi
		kill -0 $! 2>/dev/null || break
		sleep 0.02
	done
	log "sshd did not start (see sshd.log)"
	set_status "bricked: sshd did not start"
}

request=boot
trap 'request=boot' USR1
trap 'request=poweroff' USR2
trap 'request=stop' TERM
while :; do
	current="$request"
	request=""
	case "$current" in
	boot) boot ;;
	poweroff) log "power off"; stop_everything; set_status down ;;
	stop) log "stopping"; stop_everything; set_status down; exit 0 ;;
	esac
	if [ -z "$request" ]; then
		sleep 86400 &
		wait $! 2>/dev/null
		[ -n "$request" ] && kill -KILL $! 2>/dev/null
	fi
done
