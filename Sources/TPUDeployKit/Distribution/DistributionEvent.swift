/// What a distribution reports as it goes, per board (by the name it was given) or for the whole run.
public enum DistributionEvent: Sendable, Equatable {
    /// The board's agent listens on `port` at `address` (the address the board's SSH connection came in on);
    /// `pid` is its process on the board.
    case agentStarted(board: String, address: String, port: Int, pid: Int)
    /// The agent resumes `bytes` of `file` kept from an earlier, interrupted transfer.
    case kept(board: String, file: String, bytes: UInt64)
    /// A reachability check between two boards failed.
    case unreachable(board: String, peer: String, reason: String)
    /// The order the files will flow in (after the reachability checks).
    case planned(DistributionPlan)
    /// The host sends to this board itself (it reaches none of the boards before it, or it heads a chain).
    case hostSends(board: String, reason: String)
    /// The board pulls `file` from `from` (a board's name, or "host") starting at `offset`.
    case source(board: String, file: String, from: String, offset: UInt64)
    /// The board's source for `file` failed at `offset`; it continues from the next one.
    case sourceLost(board: String, file: String, from: String, offset: UInt64, reason: String)
    case progress(board: String, file: String, bytes: UInt64, size: UInt64)
    /// The file's sha256 matched on the board and it was renamed into place.
    case installed(board: String, file: String)
    /// The board's agent refused a connection (a wrong secret or a malformed request), from `peer`.
    case refused(board: String, peer: String, reason: String)
    /// The board is finished: every file in place and recorded, or failed with a coded error.
    case finished(board: String, outcome: DistributionOutcome)
}

/// How one board's distribution ended.
public enum DistributionOutcome: Sendable, Equatable {
    case ok(DistributedBoard)
    case failed(DistributionError)

    public var isOK: Bool { if case .ok = self { return true } else { return false } }
    public var error: DistributionError? { if case .failed(let error) = self { return error } else { return nil } }
}

/// A board that got every file: where they came from.
public struct DistributedBoard: Sendable, Equatable {
    public var board: String
    /// Files sent by nobody because the board's manifest already held them.
    public var alreadyThere: [String]
    /// Bytes of file data the host sent this board itself.
    public var bytesFromHost: UInt64
    /// The sources each received file came from, in order ("host" or a board's name).
    public var sources: [String: [String]]
    public var seconds: Double
}

/// What a distribution did: each board's outcome, and what the host sent.
public struct DistributionReport: Sendable, Equatable {
    public var outcomes: [String: DistributionOutcome]
    /// File bytes the host sent to all boards together (the point: about one copy of the files, whatever N is).
    public var hostBytesSent: UInt64
    public var plan: DistributionPlan?
    public var seconds: Double
}
