import Foundation

/// Reboots a board and waits for it to come back. The kernel's boot id (`/proc/sys/kernel/random/boot_id`)
/// changes at every boot, so "came back" means: SSH answers, the login works, and the boot id is new — a
/// board that answers for a moment after `reboot` is issued, or reboots faster than we poll, cannot fool it.
public struct RebootWatcher: Sendable {
    public var target: SSHTarget
    public var passwordProvider: PasswordProvider?
    /// Seconds the board may keep its old boot id once told to reboot.
    public var downTimeout: Int = 60
    /// Seconds the board may take to come back.
    public var upTimeout: Int
    public var events: MemoryFixEvents?

    static let bootIDCommand = "cat /proc/sys/kernel/random/boot_id"

    public init(target: SSHTarget, passwordProvider: PasswordProvider?, upTimeout: Int, events: MemoryFixEvents?) {
        self.target = target
        self.passwordProvider = passwordProvider
        self.upTimeout = upTimeout
        self.events = events
    }

    /// Issues the reboot through `shell` (the command returns before the board goes down) and returns a
    /// fresh session once the board is back with a new boot id; `shell`'s session is closed by then.
    public func reboot(with shell: RootShell) async throws -> SSHSession {
        // The reboot's limit counts from here: a board whose link dies now is "not back" after upTimeout, not
        // after the session's stall limit (each wait below is bounded by what is left of it).
        let start = Date()
        func left() -> Double { max(1, Double(upTimeout) - Date().timeIntervalSince(start)) }
        guard let asked = try await answer(within: min(30, left()), { try await shell.session.run(Self.bootIDCommand, timeout: 30) }) else {
            Task { await shell.session.close() }
            throw RebootError.didNotComeBack(target: target.displayName, seconds: upTimeout)
        }
        let before = asked.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !before.isEmpty else {
            throw RebootError.noBootID(target: target.displayName)
        }
        // In the background, sync included: a slow flush must not hold the command past its timeout. A command
        // that does not return in time is not waited for: whether the board reboots shows below.
        _ = try await answer(within: min(30, left())) { try await shell.run("(sync; sleep 1; reboot) >/dev/null 2>&1 </dev/null &", timeout: 30) }
        // The old session stays open until the board is back: it holds the run's board lock, which must
        // outlast the reboot's sync (minutes on a busy eMMC); the reboot itself ends it on the board.
        // It is closed in the background: a call on it may be blocked on a board that went silent, until the
        // session's own stall limit, and the reboot's outcome must not wait for that.
        let old = shell.session
        do {
            let fresh = try await waitForNewBoot(after: before, old: old, start: start)
            Task { await old.close() }
            return fresh
        } catch {
            Task { await old.close() }
            throw error
        }
    }

    /// Watches the old session until the board goes down (no new login while it is still up), then logs in
    /// until a login finds a new boot id; that login is the board's session from then on (one login per boot).
    private func waitForNewBoot(after before: String, old: SSHSession, start: Date) async throws -> SSHSession {
        var probe = target
        probe.acceptNewHostKey = false

        var sawItDown = false
        var lastReport = -1
        while true {
            let waited = Int(Date().timeIntervalSince(start))
            if waited != lastReport {
                events?(.waiting(what: "board rebooting", seconds: waited, limit: upTimeout))
                lastReport = waited
            }
            do {
                if !sawItDown {
                    // The old session answers while the board is still up; its end (the board's sshd stopped), or
                    // its silence for 5 s (a board going down, or a cable cut), is the board going down. The wait
                    // is bounded here, not by the session's stall limit, so --reboot-timeout holds from the start.
                    let asked = try await answer(within: 5) { try await old.run(Self.bootIDCommand, timeout: 5) }
                    if let now = asked?.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), now == before {
                        // still up with its old kernel
                    } else {
                        sawItDown = true
                    }
                } else {
                    // A short connect wait, so that a board still booting is asked again soon; the session keeps the
                    // target's own waits once it is in.
                    let session = try await SSHSession.connect(to: probe, passwordProvider: passwordProvider,
                                                               connectTimeout: min(target.connectTimeout, 3))
                    let remaining = Double(max(1, upTimeout - Int(Date().timeIntervalSince(start))))
                    let now = (try? await answer(within: min(30, remaining)) { try await session.run(Self.bootIDCommand, timeout: 30) })??
                        .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                    // Back with a new kernel: this login is the board's session from now on.
                    if let now, !now.isEmpty, now != before { return session }
                    Task { await session.close() }   // its call may still be waiting on a silent board
                }
            } catch let error as SSHError {
                switch error {
                case .hostKeyChanged, .hostKeyOfOtherType, .knownHostsUnusable, .identityUnreadable, .passwordNeeded:
                    throw error
                default:
                    // A board half-way through booting fails in many ways; all of them mean "not back yet".
                    sawItDown = true
                }
            }
            if !sawItDown && waited >= downTimeout {
                throw RebootError.didNotGoDown(target: target.displayName, seconds: downTimeout)
            }
            if waited >= upTimeout { throw RebootError.didNotComeBack(target: target.displayName, seconds: upTimeout) }
            try await Task.sleep(nanoseconds: 300_000_000)
        }
    }
}

public enum RebootError: Error, CustomStringConvertible, Sendable, Equatable {
    case noBootID(target: String)
    case didNotGoDown(target: String, seconds: Int)
    case didNotComeBack(target: String, seconds: Int)

    public var description: String {
        switch self {
        case .noBootID(let target):
            return "\(target) shows no kernel boot id (/proc/sys/kernel/random/boot_id), so a reboot could not be confirmed; reboot it by hand (sudo reboot)."
        case .didNotGoDown(let target, let seconds):
            return "\(target) was told to reboot but still answered after \(seconds) s; reboot it by hand (sudo reboot) and check with `tpudeploy inspect`."
        case .didNotComeBack(let target, let seconds):
            return "\(target) did not come back within \(seconds) s after the reboot."
        }
    }
}

extension RebootError: CodedError {
    public var errorCode: String {
        switch self {
        case .noBootID: return "reboot_unconfirmed"
        case .didNotGoDown: return "reboot_not_started"
        case .didNotComeBack: return "board_not_back"
        }
    }
}
