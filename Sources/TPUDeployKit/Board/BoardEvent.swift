/// Something that happened on one board: which board, in which phase of its work, and what. Every step
/// (inspect, fix-memory, push, launch, verify) reports through this one type, so a single-board command and a
/// fleet rollout render the same events their own way (a status line, a live table, JSON lines).
public struct BoardEvent: Sendable, Equatable {
    /// The board's name: its inventory name in a fleet, `user@host` for a single-board command.
    public var board: String
    public var phase: FleetPhase
    public var detail: Detail

    public init(board: String, phase: FleetPhase, detail: Detail) {
        self.board = board
        self.phase = phase
        self.detail = detail
    }

    public enum Detail: Sendable, Equatable {
        /// The phase begins.
        case started
        /// The phase ended well.
        case finished
        /// The engine's service is installed and started under `manager` (`systemd` or `supervisor`).
        case serviceStarted(manager: String)
        /// Waiting for the engine to answer `/health` ready.
        case engineWaiting(EngineReadiness.Progress)
        /// A push's progress (files, bytes, hashes).
        case push(PushEvent)
        /// fix-memory's progress (transfers, the boot image swap, the wait for the reboot).
        case memoryFix(MemoryFixEvent)
    }
}

/// Where a board's events go. Called from the board's task; a sink shared by many boards serialises itself.
public typealias BoardEvents = @Sendable (BoardEvent) -> Void
