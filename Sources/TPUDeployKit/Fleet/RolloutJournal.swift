import Foundation

/// A rollout's record on disk, written as it happens, so that `--resume RUN` continues where a run stopped
/// (without redoing a phase a board finished) and `--only-failed RUN` retries only the boards that did not end
/// well. One directory per run under `RolloutJournal.defaultRoot` (`$XDG_STATE_HOME/tpudeploy/runs`, else
/// `~/.local/state/tpudeploy/runs`):
///
/// - `run.json`: what was asked (`tpudeploy.fleet-run/1`): the run's name, the inventory, the boards in order;
/// - `journal.jsonl`: one line per finished phase or board, appended and flushed as it happens;
/// - `summary.json`: the last summary (`tpudeploy.fleet-summary/1`), rewritten when a pass ends.
public final class RolloutJournal: @unchecked Sendable {
    /// What the run was asked to do; written once, read back by `--resume` and `--only-failed`.
    public struct Header: Sendable, Codable, Equatable {
        public static let schemaName = "tpudeploy.fleet-run/1"
        public var schema = Header.schemaName
        public var run: String
        public var started: String
        public var inventory: String
        public var limit: String?
        /// The boards of the run, in its order.
        public var boards: [String]

        public init(run: String, started: String, inventory: String, limit: String?, boards: [String]) {
            self.run = run
            self.started = started
            self.inventory = inventory
            self.limit = limit
            self.boards = boards
        }
    }

    /// One line of `journal.jsonl`: a phase a board finished (`status` "done"), or a board's outcome (phase `done`).
    public struct Entry: Sendable, Codable, Equatable {
        public var time: String
        public var board: String
        public var phase: FleetPhase
        /// `done` for a finished phase; the board's outcome at phase `done`.
        public var status: String
        public var error: FleetBoardError?

        public init(time: String, board: String, phase: FleetPhase, status: String, error: FleetBoardError? = nil) {
            self.time = time
            self.board = board
            self.phase = phase
            self.status = status
            self.error = error
        }
    }

    /// What the journal says of one board.
    public struct BoardState: Sendable, Equatable {
        /// Phases finished (in any pass).
        public var finished: Set<FleetPhase> = []
        /// The board's last outcome; nil when no pass ended it (it was in flight when the run was killed).
        public var outcome: FleetBoardOutcome?
        public var error: FleetBoardError?
    }

    public let directory: URL
    public let header: Header
    private let lock = NSLock()
    private let handle: FileHandle

    /// `$XDG_STATE_HOME/tpudeploy/runs`, else `~/.local/state/tpudeploy/runs`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return URL(fileURLWithPath: state).appendingPathComponent("tpudeploy/runs")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".local/state/tpudeploy/runs")
    }

    /// Starts the journal of a new run (its directory must not exist yet).
    public static func create(_ header: Header, root: URL = defaultRoot()) throws -> RolloutJournal {
        let directory = root.appendingPathComponent(header.run)
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            try encoder.encode(header).write(to: directory.appendingPathComponent("run.json"), options: .atomic)
            try Data().write(to: directory.appendingPathComponent("journal.jsonl"))
        } catch {
            throw RolloutJournalError.unwritable(path: directory.path, reason: "\(error)")
        }
        return try RolloutJournal(directory: directory, header: header)
    }

    /// Opens the journal of an earlier run to continue it (`--resume`) or read it (`--only-failed`).
    public static func open(run: String, root: URL = defaultRoot()) throws -> RolloutJournal {
        guard BoardNames.nameProblem(run) == nil, !run.contains("/") else { throw RolloutJournalError.noSuchRun(run: run, root: root.path) }
        let directory = root.appendingPathComponent(run)
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("run.json").path) else {
            throw RolloutJournalError.noSuchRun(run: run, root: root.path)
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let header: Header
        do { header = try decoder.decode(Header.self, from: data) } catch {
            throw RolloutJournalError.damaged(path: directory.appendingPathComponent("run.json").path, reason: "\(error)")
        }
        return try RolloutJournal(directory: directory, header: header)
    }

    private init(directory: URL, header: Header) throws {
        self.directory = directory
        self.header = header
        let path = directory.appendingPathComponent("journal.jsonl").path
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw RolloutJournalError.unwritable(path: path, reason: "cannot open it for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Appends one entry and flushes it to the file: a run killed a moment later still has it.
    public func record(_ entry: Entry) {
        guard let line = try? FleetJSONLines.line(entry) else { return }
        lock.withLock {
            handle.write(Data((line + "\n").utf8))
            try? handle.synchronize()
        }
    }

    /// Writes the pass's summary beside the journal.
    public func writeSummary(_ summary: FleetSummary) {
        guard let line = try? FleetJSONLines.line(summary) else { return }
        try? Data((line + "\n").utf8).write(to: directory.appendingPathComponent("summary.json"), options: .atomic)
    }

    /// Every board's state from the lines written so far (a torn last line, from a run killed mid-write, is ignored).
    public func states() -> [String: BoardState] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("journal.jsonl"), encoding: .utf8)) ?? ""
        return Self.states(journalText: text)
    }

    /// The boards' states from a journal's text.
    public static func states(journalText: String) -> [String: BoardState] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var states: [String: BoardState] = [:]
        for line in journalText.split(separator: "\n") {
            guard let entry = try? decoder.decode(Entry.self, from: Data(line.utf8)) else { continue }
            if entry.phase == .done {
                states[entry.board, default: BoardState()].outcome = FleetBoardOutcome(rawValue: entry.status)
                states[entry.board, default: BoardState()].error = entry.error
            } else if entry.status == "done" {
                states[entry.board, default: BoardState()].finished.insert(entry.phase)
            }
        }
        return states
    }

    /// The boards `--only-failed` takes again: those that failed, were not reached, did not come back, were not
    /// started, or were in flight when the run was stopped — in the run's order.
    public func boardsToRetry() -> [String] {
        let states = states()
        return header.boards.filter { name in
            guard let outcome = states[name]?.outcome else { return true }
            return outcome != .ok && outcome != .skipped
        }
    }
}

public enum RolloutJournalError: Error, CustomStringConvertible, Sendable, Equatable {
    case noSuchRun(run: String, root: String)
    case damaged(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case boardsMissing(run: String, names: [String], inventory: String)

    public var code: String {
        switch self {
        case .noSuchRun: return "no_such_run"
        case .damaged: return "journal_damaged"
        case .unwritable: return "journal_unwritable"
        case .boardsMissing: return "journal_boards_missing"
        }
    }

    public var description: String {
        switch self {
        case .noSuchRun(let run, let root):
            return "no rollout named '\(run)' in \(root): the run's name is the `run` of its summary (ls \(root))"
        case .damaged(let path, let reason):
            return "\(path) cannot be read (\(reason)): that run cannot be resumed; start a new rollout"
        case .unwritable(let path, let reason):
            return "cannot write the rollout's journal \(path): \(reason); set XDG_STATE_HOME to a writable directory"
        case .boardsMissing(let run, let names, let inventory):
            return "run \(run) had board\(names.count == 1 ? "" : "s") \(names.joined(separator: ", ")) that \(inventory) does not name: pass the inventory that run used"
        }
    }
}
