/// The per-board work of a rollout, behind a protocol so that the runner's scheduling, failure budget, canary,
/// interruption and journal are tested with fake steps, and run for real with `LiveRolloutSteps`.
public protocol RolloutSteps: Sendable {
    /// Connects to `board` (the `connect` phase): the handle every later phase of that board works through.
    func open(_ board: FleetBoard, control: RolloutControl) async throws -> any RolloutBoardWork

    /// Whether `distribute` spreads the payload among a batch's boards. When it does, the runner opens and
    /// inspects every board of a batch first (`--parallel` at once), hands the boards that need files to
    /// `distribute`, then takes them through their phases (`--parallel` at once); each board keeps its session
    /// from its inspection to its end. When it does not, each board goes from connect to its end in one go.
    var distributes: Bool { get }

    /// Spreads the payload among `boards` (a batch's boards that were inspected and lack files, before any of
    /// them starts its phases) so that each one's push finds the files in place. `seeds` are boards of earlier
    /// batches that ended well and hold the payload: they head the relay and send, receiving nothing, so the
    /// host sends each file about once per run rather than once per batch; they have no outcome in the report.
    /// `progress` takes a board's name and what it received so far. A board whose distribution failed is
    /// `.failed` in the report: its own push sends it the files.
    func distribute(_ boards: [RolloutDistributionTarget], seeds: [RolloutDistributionTarget], control: RolloutControl,
                    progress: @escaping @Sendable (String, RolloutProgress) -> Void) async -> RolloutDistributionReport
}

extension RolloutSteps {
    public var distributes: Bool { false }

    public func distribute(_ boards: [RolloutDistributionTarget], seeds: [RolloutDistributionTarget], control: RolloutControl,
                           progress: @escaping @Sendable (String, RolloutProgress) -> Void) async -> RolloutDistributionReport {
        RolloutDistributionReport()
    }
}

/// A board a batch's distribution sends to: its handle (whose session the relay uses) and what its inspection found.
public struct RolloutDistributionTarget: Sendable {
    public var board: FleetBoard
    public var work: any RolloutBoardWork
    public var inspection: RolloutInspection

    public init(board: FleetBoard, work: any RolloutBoardWork, inspection: RolloutInspection) {
        self.board = board
        self.work = work
        self.inspection = inspection
    }
}

/// What one batch's distribution did: each board's outcome (by name) and the file bytes the host sent.
public struct RolloutDistributionReport: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Every file in place; the text says where they came from.
        case ok(String)
        /// The board's push sends it the files instead.
        case failed(FleetBoardError)
    }

    public var outcomes: [String: Outcome]
    public var hostBytesSent: UInt64

    public init(outcomes: [String: Outcome] = [:], hostBytesSent: UInt64 = 0) {
        self.outcomes = outcomes
        self.hostBytesSent = hostBytesSent
    }
}

/// One board's handle during a rollout: inspected once, then the phases its inspection asks for, in order.
public protocol RolloutBoardWork: Sendable {
    /// One round trip's look at the board: whether it is already at the target, else which phases it needs.
    func inspect() async throws -> RolloutInspection
    /// Runs one of the phases `inspect` asked for; `progress` takes bytes moved (for a transfer's display).
    func perform(_ phase: FleetPhase, progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String?
    /// Ends the board's session (also after a failure).
    func close() async
}

/// What a phase reports while it runs.
public struct RolloutProgress: Sendable, Equatable {
    public var detail: String?
    public var bytesDone: UInt64?
    public var bytesTotal: UInt64?
    /// File bytes this host has sent the board in this phase so far (a push's; for the run's total).
    public var hostBytesSent: UInt64?

    public init(detail: String? = nil, bytesDone: UInt64? = nil, bytesTotal: UInt64? = nil, hostBytesSent: UInt64? = nil) {
        self.detail = detail
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.hostBytesSent = hostBytesSent
    }
}

/// What one look at a board found: where it stands against the rollout's target, and what would bring it there.
public struct RolloutInspection: Sendable, Equatable, Codable {
    /// The phases the board needs, in the order they run (a subset of `RolloutInspection.order`); empty when the
    /// board is already at the target (layout fits, same files by hash, engine healthy on them).
    public var needs: [FleetPhase]
    /// Why the board is skipped, or what it is missing ("the model needs 4.7 GiB, the NPU heap has 3.9 GiB").
    public var reason: String
    /// The heap layout the board would get from fix-memory ("npu 4864 MiB, vpu 1024 MiB, vpp 2048 MiB"); nil when
    /// its layout already fits.
    public var layout: String?
    /// Bytes of the payload the board does not hold yet (what push would send).
    public var bytesToSend: UInt64
    /// The board profile and DDR found (for the report).
    public var boardProfile: String?
    public var ddrBytes: UInt64?

    public static let order: [FleetPhase] = [.fixMemory, .reboot, .push, .launch, .verify]

    public init(needs: [FleetPhase], reason: String, layout: String? = nil, bytesToSend: UInt64 = 0, boardProfile: String? = nil, ddrBytes: UInt64? = nil) {
        self.needs = Self.order.filter(needs.contains)
        self.reason = reason
        self.layout = layout
        self.bytesToSend = bytesToSend
        self.boardProfile = boardProfile
        self.ddrBytes = ddrBytes
    }

    public var isAtTarget: Bool { needs.isEmpty }
}

/// A step's failure that is not an SSH error: its stable code, the board's outcome, and whether running the
/// rollout again may help.
public struct RolloutStepError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: String
    public var outcome: FleetBoardOutcome
    public var message: String
    public var retryable: Bool

    public init(code: String, outcome: FleetBoardOutcome = .failed, message: String, retryable: Bool = false) {
        self.code = code
        self.outcome = outcome
        self.message = message
        self.retryable = retryable
    }

    public var description: String { message }

    /// Sorts any error of a phase into the board's outcome and the error's stable code, as
    /// `FleetBoardError.classify` does (unreachable, not back, the error's own code, else `<phase>_failed`); a
    /// transfer stopped by the second Ctrl-C is `interrupted`.
    public static func classify(_ error: Error, phase: FleetPhase) -> (FleetBoardOutcome, FleetBoardError) {
        if let step = error as? RolloutStepError { return (step.outcome, FleetBoardError(code: step.code, message: step.message)) }
        if case UploadError.cancelled = error {
            return (.failed, FleetBoardError(code: "interrupted", message: String(describing: error)))
        }
        return FleetBoardError.classify(error, in: phase)
    }
}

extension RolloutStepError: CodedError {
    public var errorCode: String { code }
    public var isRetryable: Bool { retryable }
}
