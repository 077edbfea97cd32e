/// The last lines of the deployment's engine log on a board.
public struct EngineLog: Sendable, Equatable {
    public var deployment: String
    /// `user@host` of the board.
    public var board: String
    /// The log's path on the board.
    public var logFile: String
    /// The text as the board printed it (newlines included).
    public var text: String

    /// The lines without their newlines, oldest first.
    public var lines: [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// The logs step: reads the last `lines` lines of the engine's log.
public struct EngineLogReader: Sendable {
    public var lines: Int

    public init(lines: Int = 100) {
        self.lines = lines
    }

    public func read(_ board: BoardContext) async throws -> EngineLog {
        let spec = board.engine.bareSpec
        let text = try await board.serviceManager().logs(spec, lines: lines)
        return EngineLog(deployment: spec.name, board: board.target.displayName, logFile: spec.logFile, text: text)
    }
}
