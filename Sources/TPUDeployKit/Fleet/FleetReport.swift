import Foundation

/// Where a board's work stands, in events and in the summary: the steps of a rollout, in their order.
/// The raw values are the JSON's and stay stable.
public enum FleetPhase: String, Sendable, Codable, CaseIterable {
    case connect
    case inspect
    /// The rollout's hook for peer-to-peer distribution of the payload to a batch, before its boards push.
    case distribute
    case fixMemory = "fix_memory"
    /// Waiting for the board to come back after fix-memory rebooted it.
    case reboot
    case push
    case launch
    case verify
    case done
}

/// How one board's part of a run ended.
public enum FleetBoardOutcome: String, Sendable, Codable {
    case ok
    case skipped
    case failed
    case unreachable
    case notBack = "not_back"
    case notStarted = "not_started"
}

/// A board's error in a fleet run: a stable `code` for scripts and the one-line message for people.
public struct FleetBoardError: Sendable, Codable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// Sorts an error into the board's outcome: a board that cannot be reached (no route, no answer in time,
    /// the link lost) is `unreachable`; a board that did not come back from its reboot is `not_back`;
    /// everything else — a host key that changed or is unknown, a refused login, a failed step — is `failed`.
    /// Either way it is this board's outcome, never the run's. The code is the error's own (`CodedError`);
    /// an error without one gets `<phase>_failed`.
    public static func classify(_ error: Error, in phase: FleetPhase = .inspect) -> (FleetBoardOutcome, FleetBoardError) {
        let code = ErrorCode.of(error, fallback: "\(phase.rawValue)_failed")
        let outcome: FleetBoardOutcome
        if let ssh = error as? SSHError, ssh.meansUnreachable {
            outcome = .unreachable
        } else if let upload = error as? UploadError, upload.meansUnreachable {
            outcome = .unreachable
        } else if let fix = error as? MemoryFixError, fix.meansBoardNotBack {
            outcome = .notBack
        } else {
            outcome = .failed
        }
        return (outcome, FleetBoardError(code: code, message: String(describing: error)))
    }
}

/// The facts of one board that fit a row of the fleet table; the full report rides in the board's `done` event.
public struct FleetBoardFacts: Sendable, Codable, Equatable {
    public struct Heap: Sendable, Codable, Equatable {
        public var name: String
        public var configuredBytes: UInt64?
        public var liveBytes: UInt64?
        public var usedBytes: UInt64?
    }

    public var hostname: String?
    public var board: String?
    public var dtb: String?
    public var ddrBytes: UInt64?
    public var memTotalBytes: UInt64?
    public var heaps: [Heap]
    public var rebootPending: Bool?
    public var libsophon: String?
    public var engineRunning: Bool
    public var warnings: Int
    /// What the board's deployment directory holds, by its manifest; nil when the board has no deployment named.
    public var deployed: DeployedFiles?

    /// The files a push recorded in a deployment directory.
    public struct DeployedFiles: Sendable, Codable, Equatable {
        public var deployment: String
        public var directory: String
        /// The bmodel's file name; nil when nothing was pushed there (or the manifest is damaged).
        public var bmodel: String?
        /// Every file the manifest records (bmodel, tokenizer, engine, support files).
        public var files: Int
        /// The engine serving from the directory and its `/health` (`fleet inspect`; FleetEngineState.swift).
        public var engine: FleetEngineState?

        public init(deployment: String, directory: String, manifest: BoardManifest) {
            self.deployment = deployment
            self.directory = directory
            bmodel = manifest.files.filter { $0.value.role == .bmodel }.keys.sorted().first
            files = manifest.files.count
        }
    }

    public init(_ report: BoardReport) {
        hostname = report.hostname
        board = report.board
        dtb = report.dtb
        ddrBytes = report.ddr?.totalBytes
        memTotalBytes = report.linux.memTotalBytes
        heaps = report.heaps.map { Heap(name: $0.name, configuredBytes: $0.configuredBytes, liveBytes: $0.liveBytes, usedBytes: $0.liveUsedBytes) }
        rebootPending = report.rebootPending
        libsophon = report.libsophonVersion
        engineRunning = report.engine.running
        warnings = report.warnings.count
    }
}

/// One line of `--json` output while a fleet command runs, printed as it happens.
public struct FleetEvent: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.fleet-event/1"
    public var schema = FleetEvent.schemaName
    public var run: String
    /// ISO 8601, UTC, milliseconds.
    public var time: String
    public var board: String
    public var host: String
    public var phase: FleetPhase
    /// `started` when the phase begins; at `done`, the board's outcome.
    public var status: String
    public var error: FleetBoardError?
    public var seconds: Double?
    public var facts: FleetBoardFacts?
    public var report: BoardReport?
    /// The board profile the inventory asks for when it differs from the one whose dtb the board boots.
    public var profileMismatch: String?
    /// A rollout's word on the phase: why a board is skipped, the layout it gets, what was pushed.
    public var detail: String?
    /// Bytes moved so far in this phase, and in all (a transfer's progress).
    public var bytesDone: UInt64?
    public var bytesTotal: UInt64?

    public init(run: String, time: String, board: String, host: String, phase: FleetPhase, status: String, error: FleetBoardError? = nil,
                seconds: Double? = nil, facts: FleetBoardFacts? = nil, report: BoardReport? = nil, profileMismatch: String? = nil,
                detail: String? = nil, bytesDone: UInt64? = nil, bytesTotal: UInt64? = nil) {
        self.run = run
        self.time = time
        self.board = board
        self.host = host
        self.phase = phase
        self.status = status
        self.error = error
        self.seconds = seconds
        self.facts = facts
        self.report = report
        self.profileMismatch = profileMismatch
        self.detail = detail
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }
}

/// One board in a fleet summary.
public struct FleetBoardResult: Sendable, Codable, Equatable {
    public var name: String
    public var host: String
    public var outcome: FleetBoardOutcome
    /// The phase it ended in (where it failed, or `done`).
    public var phase: FleetPhase
    public var error: FleetBoardError?
    public var seconds: Double
    public var facts: FleetBoardFacts?
    /// A rollout's word on the board: why it was skipped, what it was given.
    public var detail: String?

    public init(name: String, host: String, outcome: FleetBoardOutcome, phase: FleetPhase, error: FleetBoardError?, seconds: Double,
                facts: FleetBoardFacts? = nil, detail: String? = nil) {
        self.name = name
        self.host = host
        self.outcome = outcome
        self.phase = phase
        self.error = error
        self.seconds = seconds
        self.facts = facts
        self.detail = detail
    }
}

/// The last line of a fleet command's `--json` output, and the source of its table and exit code.
public struct FleetSummary: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.fleet-summary/1"
    public var schema = FleetSummary.schemaName
    public var run: String
    public var command: String
    /// `ok` when every board is ok or skipped, else `failed`; a rollout may also end `aborted` (its failure
    /// budget was reached, its canary failed, or the go-ahead after the canary was refused) or `interrupted` (Ctrl-C).
    public var outcome: String
    /// Why a rollout stopped starting boards: `failure_budget`, `canary_failed`, `declined`, `interrupt`; nil otherwise.
    public var stoppedBy: String?
    public var boards: [FleetBoardResult]
    public var counts: [String: Int]
    public var seconds: Double
    /// A rollout's file bytes sent by this host over the run: the relays' (`relayHostBytesSent`) and the pushes'.
    /// Nil for other commands.
    public var hostBytesSent: UInt64?
    /// Of those, what the relay distribution sent (about one copy of the missing files a batch); nil without
    /// relaying (`--no-relay`).
    public var relayHostBytesSent: UInt64?

    public init(run: String, command: String, boards: [FleetBoardResult], seconds: Double, stoppedBy: String? = nil) {
        self.run = run
        self.command = command
        self.boards = boards
        self.seconds = seconds
        self.stoppedBy = stoppedBy
        switch stoppedBy {
        case "interrupt": outcome = "interrupted"
        case .some: outcome = "aborted"
        case nil: outcome = boards.allSatisfy { $0.outcome == .ok || $0.outcome == .skipped } ? "ok" : "failed"
        }
        counts = Dictionary(grouping: boards, by: \.outcome.rawValue).mapValues(\.count)
    }

    /// 0 all ok or skipped, 2 some failed, 3 some unreachable (none failed), 4 aborted by the failure budget (or
    /// a failed canary), 130 interrupted, 1 the go-ahead after the canary was refused.
    public var exitCode: Int32 {
        switch stoppedBy {
        case "interrupt": return 130
        case "declined": return 1
        case .some: return 4
        case nil: break
        }
        if boards.contains(where: { $0.outcome == .failed || $0.outcome == .notBack }) { return 2 }
        if boards.contains(where: { $0.outcome == .unreachable }) { return 3 }
        return 0
    }
}

/// JSON lines: one compact object a line, the project's key style (snake_case, sorted).
public enum FleetJSONLines {
    public static func line<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A run's name: the command, the UTC time and a random suffix, e.g. `inspect-20261206T172400Z-3f9a`.
    public static func runID(command: String, at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(command)-\(formatter.string(from: date))-\(String(UInt16.random(in: .min ... .max), radix: 16))"
    }

    static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
