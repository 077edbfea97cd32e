import Foundation

/// Reboots a board and waits for it to come back, telling "went down and came back" apart from "never
/// went down": a board answers SSH for a moment after `reboot` is issued, so first the SSH port must stop
/// answering, then answer again with a working login.
public struct RebootWatcher: Sendable {
    public var target: SSHTarget
    public var passwordProvider: PasswordProvider?
    /// Seconds the board may take to go down once told to reboot.
    public var downTimeout: Int = 60
    /// Seconds the board may take to come back.
    public var upTimeout: Int
    public var events: MemoryFixEvents?

    public init(target: SSHTarget, passwordProvider: PasswordProvider?, upTimeout: Int, events: MemoryFixEvents?) {
        self.target = target
        self.passwordProvider = passwordProvider
        self.upTimeout = upTimeout
        self.events = events
    }

    /// Issues the reboot through `shell` (the command returns before the board goes down), closes the
    /// session, and returns a fresh session once the board is back.
    public func reboot(with shell: RootShell) async throws -> SSHSession {
        _ = try await shell.run("sync; (sleep 1; reboot) >/dev/null 2>&1 </dev/null &", timeout: 30)
        await shell.session.close()
        var probe = target
        probe.connectTimeout = min(target.connectTimeout, 3)
        probe.acceptNewHostKey = false

        let downStart = Date()
        events?(.step("waiting for the board to go down"))
        while true {
            let answered: Bool
            do {
                let session = try await SSHSession.connect(to: probe, passwordProvider: passwordProvider)
                await session.close()
                answered = true
            } catch let error as SSHError {
                switch error {
                case .cannotResolveOrConnect, .connectTimedOut, .connectionLost: answered = false
                default: throw error
                }
            }
            if !answered { break }
            if Date().timeIntervalSince(downStart) > Double(downTimeout) {
                throw RebootError.didNotGoDown(target: target.displayName, seconds: downTimeout)
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }

        let upStart = Date()
        var lastReport = -1
        while true {
            let waited = Int(Date().timeIntervalSince(upStart))
            if waited != lastReport {
                events?(.waiting(what: "board rebooting", seconds: waited, limit: upTimeout))
                lastReport = waited
            }
            do {
                return try await SSHSession.connect(to: probe, passwordProvider: passwordProvider)
            } catch let error as SSHError {
                switch error {
                case .cannotResolveOrConnect, .connectTimedOut, .connectionLost: break
                default: throw error
                }
            }
            if waited >= upTimeout { throw RebootError.didNotComeBack(target: target.displayName, seconds: upTimeout) }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
    }
}

public enum RebootError: Error, CustomStringConvertible, Sendable, Equatable {
    case didNotGoDown(target: String, seconds: Int)
    case didNotComeBack(target: String, seconds: Int)

    public var description: String {
        switch self {
        case .didNotGoDown(let target, let seconds):
            return "\(target) was told to reboot but still answered after \(seconds) s; reboot it by hand (sudo reboot) and check with `tpudeploy inspect`."
        case .didNotComeBack(let target, let seconds):
            return "\(target) did not come back within \(seconds) s after the reboot."
        }
    }
}
