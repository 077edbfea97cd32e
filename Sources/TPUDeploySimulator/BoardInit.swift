import Foundation

/// The board's init process (PID 1 of its pid namespace, `board-init.sh`) seen from the host: started
/// detached in the board's namespaces, found again by its command line from any process, signalled to
/// reboot, killed to stop the whole board at once.
struct BoardInit: Sendable {
    let filesystem: BoardFilesystem
    let namespace: String

    /// Starts the board: `setsid -f ip netns exec NS unshare --pid --fork --mount-proc --mount --uts board-init.sh DIR`.
    /// A small launcher first closes every inherited descriptor, so the long-lived board never holds a pipe of
    /// the caller open, and (with perl's POSIX module, part of Debian's essential perl-base) unblocks and resets
    /// every signal: a caller such as a test runner may block signals, and a board's init and its users' sessions
    /// must get SIGUSR1, SIGINT and SIGHUP as on a real board.
    func start() throws {
        let launcher = """
            for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"; done 2>/dev/null
            exec perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!"; \
                $SIG{$_} = "DEFAULT" for grep { !/^__/ } keys %SIG; exec { $ARGV[0] } @ARGV or die "exec: $!"' \
                setsid -f ip netns exec "$1" unshare --pid --fork --mount-proc --mount --uts /bin/bash "$2" "$3" \
                </dev/null >/dev/null 2>&1
            """
        try CommandRunner.run("bash", ["-c", launcher, "board-launcher", namespace, filesystem.initScript.path, filesystem.directory.path])
    }

    /// The host pid of the board's init, or nil when the board is not running.
    func hostPID() -> pid_t? {
        let expected = ["/bin/bash", filesystem.initScript.path, filesystem.directory.path]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = pid_t(entry),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  cmdline.split(separator: 0, omittingEmptySubsequences: false).dropLast().map({ String(decoding: $0, as: UTF8.self) }) == expected,
                  let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                  let nspid = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }),
                  nspid.split(whereSeparator: { $0 == "\t" || $0 == " " }).last == "1",
                  !Self.isZombie(pid)
            else { continue }
            return pid
        }
        return nil
    }

    /// Asks the board to reboot, as `reboot` on the board does.
    func requestReboot() -> Bool {
        guard let pid = hostPID() else { return false }
        return kill(pid, SIGUSR1) == 0
    }

    /// Kills the board's init, and with it every process of the board (the kernel empties its pid namespace),
    /// then waits until they are gone.
    func stop(timeout: Double = 10) {
        guard let pid = hostPID() else { return }
        kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !FileManager.default.fileExists(atPath: "/proc/\(pid)") || Self.isZombie(pid) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}

/// Whether an SSH server answers at an address: connects and reads the `SSH-2.0` banner.
enum SSHBanner {
    static func answers(host: String, port: Int, timeout: Double = 2) -> Bool {
        let probe = "exec 3<>/dev/tcp/$1/$2 && head -c 7 <&3"
        guard let output = try? CommandRunner.capture("timeout", [String(format: "%.1f", timeout), "bash", "-c", probe, "probe", host, String(port)]) else {
            return false
        }
        return output.status == 0 && output.standardOutput.hasPrefix("SSH-2.0")
    }
}
