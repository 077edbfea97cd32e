/// What `fleet rollout --dry-run` shows: per board, its batch, whether it would be skipped and why, the phases it
/// would go through, the heap layout it would get and the bytes it would be sent; totals over the run. Pure: built
/// from the plan and what inspecting each board found, so it is as fast for 1000 boards as the inspections are.
public struct RolloutDryRun: Sendable, Equatable, Codable {
    public static let schemaName = "tpudeploy.fleet-dry-run/1"

    public struct Board: Sendable, Equatable, Codable {
        public var name: String
        public var host: String
        /// "canary", "batch 1", …
        public var batch: String
        /// `skipped` (already at the target), `would_roll_out`, or the outcome of a board that could not be
        /// inspected (`unreachable`, `failed`).
        public var action: String
        public var phases: [FleetPhase]
        public var reason: String
        public var layout: String?
        public var bytesToSend: UInt64
        public var boardProfile: String?
        public var ddrBytes: UInt64?
        public var error: FleetBoardError?
    }

    public var schema = RolloutDryRun.schemaName
    public var run: String
    public var boards: [Board]
    public var batches: Int
    public var parallel: Int
    public var failureBudget: FailureBudget?
    /// Boards that would be rolled out, skipped, and that could not be inspected.
    public var rollingOut: Int
    public var skipped: Int
    public var unreachable: Int
    public var failed: Int
    /// Bytes the boards lack, all together (what the host would send without relaying).
    public var bytesToSend: UInt64
    /// Whether the rollout relays each batch's payload between its boards (not `--no-relay`).
    public var relay: Bool
    /// Bytes the host would send: with relaying, about what the hungriest board lacks of each batch until one
    /// board holds the payload (one skipped, or one of an earlier batch that ended well, heads the relay of the
    /// batches after: `RolloutSeeds`), so usually one copy; a board that reaches no board before it is sent to
    /// as well, which only the rollout finds out. Without relaying, `bytesToSend`.
    public var hostBytesToSend: UInt64
    /// Boards that would get a new memory layout (and reboot).
    public var layoutChanges: Int

    public init(run: String, plan: RolloutPlan, inspections: [String: Result<RolloutInspection, RolloutSurveyFailure>], relay: Bool = false) {
        self.run = run
        self.relay = relay
        batches = plan.batches.count
        parallel = plan.parallel
        failureBudget = plan.failureBudget
        var boards: [Board] = []
        for batch in plan.batches {
            let label = batch.isCanary ? "canary" : "batch \(batch.number)"
            for board in batch.boards {
                var row = Board(name: board.name, host: board.target.host, batch: label, action: "failed", phases: [], reason: "not inspected",
                                layout: nil, bytesToSend: 0, boardProfile: board.boardProfile, ddrBytes: nil, error: nil)
                switch inspections[board.name] {
                case .success(let found):
                    row.action = found.isAtTarget ? "skipped" : "would_roll_out"
                    row.phases = found.needs
                    row.reason = found.reason
                    row.layout = found.layout
                    row.bytesToSend = found.bytesToSend
                    row.boardProfile = found.boardProfile ?? board.boardProfile
                    row.ddrBytes = found.ddrBytes
                case .failure(let failure):
                    row.action = failure.outcome.rawValue
                    row.reason = failure.error.message
                    row.error = failure.error
                case nil:
                    row.reason = "not inspected (interrupted)"
                }
                boards.append(row)
            }
        }
        self.boards = boards
        rollingOut = boards.filter { $0.action == "would_roll_out" }.count
        skipped = boards.filter { $0.action == "skipped" }.count
        unreachable = boards.filter { $0.action == FleetBoardOutcome.unreachable.rawValue }.count
        failed = boards.count - rollingOut - skipped - unreachable
        bytesToSend = boards.reduce(0) { $0 + $1.bytesToSend }
        if relay {
            // Per batch, the files flow down one chain: the host sends about what its hungriest board lacks, until
            // a board holding the payload can head the chain instead.
            var seeded = false
            var host: UInt64 = 0
            var start = 0
            for batch in plan.batches {
                let rows = boards[start..<(start + batch.boards.count)]
                start += batch.boards.count
                if rows.contains(where: { $0.action == "skipped" }) { seeded = true }
                if !seeded { host += rows.filter { $0.action == "would_roll_out" }.map(\.bytesToSend).max() ?? 0 }
                if rows.contains(where: { $0.action == "would_roll_out" }) { seeded = true }
            }
            hostBytesToSend = host
        } else {
            hostBytesToSend = bytesToSend
        }
        layoutChanges = boards.filter { $0.phases.contains(.fixMemory) }.count
    }

    /// 0 when every board could be inspected, 2 some failed, 3 some unreachable (none failed): as a rollout's.
    public var exitCode: Int32 { failed > 0 ? 2 : unreachable > 0 ? 3 : 0 }
}
