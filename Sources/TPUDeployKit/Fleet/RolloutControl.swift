import Foundation

/// Ctrl-C during a rollout, shared by the runner and every board's steps. The first press: no new board and no
/// new phase starts; phases in flight finish (a boot image being installed always does). The second: transfers
/// stop too (what the board acknowledged is kept, and the next run resumes it).
public final class RolloutControl: @unchecked Sendable {
    private let lock = NSLock()
    private var presses = 0

    public init() {}

    /// Records one Ctrl-C and returns how many there were.
    @discardableResult
    public func interrupt() -> Int { lock.withLock { presses += 1; return presses } }

    /// No new board or phase may start.
    public var isStopping: Bool { lock.withLock { presses > 0 } }

    /// Transfers in flight stop (the pusher's cancellation check).
    public var cancelsTransfers: Bool { lock.withLock { presses > 1 } }
}

/// How long each phase may take on one board, as the flags set them.
public struct RolloutDeadlines: Sendable, Equatable, Codable {
    /// Seconds for a board to answer SSH.
    public var connectSeconds: Int
    /// Seconds a transfer may go without an answer from the board before the link is taken for dead.
    public var transferStallSeconds: Int
    /// Seconds a board may take to come back after its reboot.
    public var rebootSeconds: Int
    /// Seconds the engine may take to load the model and answer /health ready.
    public var engineHealthSeconds: Int

    public init(connectSeconds: Int = 10, transferStallSeconds: Int = SSHTarget.defaultStallTimeout, rebootSeconds: Int = 300, engineHealthSeconds: Int = 300) {
        self.connectSeconds = connectSeconds
        self.transferStallSeconds = transferStallSeconds
        self.rebootSeconds = rebootSeconds
        self.engineHealthSeconds = engineHealthSeconds
    }
}
