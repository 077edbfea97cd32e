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
        let before = try await shell.session.run(Self.bootIDCommand, timeout: 30).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !before.isEmpty else {
            throw RebootError.noBootID(target: target.displayName)
        }
        // In the background, sync included: a slow flush must not hold the command past its timeout.
        _ = try await shell.run("(sync; sleep 1; reboot) >/dev/null 2>&1 </dev/null &", timeout: 30)
        // The old session stays open until the board is back: it holds the run's board lock, which must
        // outlast the reboot's sync (minutes on a busy eMMC); the reboot itself ends it on the board.
        do {
            let fresh = try await waitForNewBoot(after: before, old: shell.session)
            await shell.session.close()
            return fresh
        } catch {
            await shell.session.close()
            throw error
        }
    }

    /// Watches the old session until the board goes down (no new login while it is still up), then logs in
    /// until a login finds a new boot id; that login is the board's session from then on (one login per boot).
    private func waitForNewBoot(after before: String, old: SSHSession) async throws -> SSHSession {
        var probe = target
        probe.acceptNewHostKey = false

        let start = Date()
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
                    // The old session answers while the board is still up; its end (the board's sshd stopped) is the
                    // board going down.
                    let now = try await old.run(Self.bootIDCommand, timeout: 5).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                    if now != before { sawItDown = true }
                } else {
                    // A short connect wait, so that a board still booting is asked again soon; the session keeps the
                    // target's own waits once it is in.
                    let session = try await SSHSession.connect(to: probe, passwordProvider: passwordProvider,
                                                               connectTimeout: min(target.connectTimeout, 3))
                    let now = (try? await session.run(Self.bootIDCommand, timeout: 30).stdoutText)?
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    // Back with a new kernel: this login is the board's session from now on.
                    if let now, !now.isEmpty, now != before { return session }
                    await session.close()
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
