/// How a rollout is asked to proceed: the flags of `fleet rollout` that shape its order.
public struct RolloutSettings: Sendable, Equatable {
    /// Boards done first, alone; the rest waits for them (0: no canary).
    public var canary = 1
    /// Batch sizes after the canary, the last repeating; empty means one batch of every remaining board.
    public var batches: [RolloutBatchSize] = []
    /// `--max-fail`; nil means no budget (the run goes on whatever fails, except when a canary fails).
    public var maxFailPercent: Double?
    /// Boards worked on at once, within a batch.
    public var parallel = 16
    /// `--max-transfers`: boards whose push sends from this host at once (nil: `parallel`).
    public var maxTransfers: Int?
    /// `--max-reboots`: boards changing their boot image and rebooting at once (nil: `parallel`).
    public var maxReboots: Int?

    public init(canary: Int = 1, batches: [RolloutBatchSize] = [], maxFailPercent: Double? = nil, parallel: Int = 16,
                maxTransfers: Int? = nil, maxReboots: Int? = nil) {
        self.canary = canary
        self.batches = batches
        self.maxFailPercent = maxFailPercent
        self.parallel = parallel
        self.maxTransfers = maxTransfers
        self.maxReboots = maxReboots
    }
}

/// One batch of a rollout: its boards start together (at most `parallel` at once) after the previous batch ended.
public struct RolloutBatch: Sendable, Equatable, Codable {
    /// 0 for the canary when there is one.
    public var number: Int
    public var isCanary: Bool
    public var boards: [FleetBoard]
    /// The `--batch` value this batch was cut by (nil for the canary and for "everything left").
    public var size: RolloutBatchSize?
}

/// The order a rollout takes the boards in, computed before any board is touched.
public struct RolloutPlan: Sendable, Equatable, Codable {
    public static let schemaName = "tpudeploy.fleet-plan/1"
    public var schema = RolloutPlan.schemaName
    public var boardCount: Int
    public var batches: [RolloutBatch]
    public var parallel: Int
    /// Boards pushing from this host at once, within `parallel`; nil: as many as `parallel`.
    public var maxTransfers: Int?
    /// Boards in `fix_memory` or `reboot` at once (from the start of the first to the end of the reboot), within
    /// `parallel`; nil: as many as `parallel`.
    public var maxReboots: Int?
    public var failureBudget: FailureBudget?

    /// Cuts `boards` (in inventory order) into the canary and the batches. Shares are of the whole run's
    /// board count, as Ansible's `serial` takes them of the play's hosts; a batch never exceeds what is left,
    /// so it is never empty.
    public init(boards: [FleetBoard], settings: RolloutSettings) throws {
        guard settings.canary >= 0 else {
            throw InventoryError(.badRolloutSetting, key: "--canary", "\(settings.canary) is not a number of boards (0 or more)")
        }
        guard settings.parallel >= 1 else {
            throw InventoryError(.badRolloutSetting, key: "--parallel", "\(settings.parallel): at least one board must be worked on at once")
        }
        for (flag, cap) in [("--max-transfers", settings.maxTransfers), ("--max-reboots", settings.maxReboots)] {
            if let cap, cap < 1 {
                throw InventoryError(.badRolloutSetting, key: flag, "\(cap): at least one board must be allowed at once")
            }
        }
        boardCount = boards.count
        parallel = settings.parallel
        // A cap above --parallel caps nothing: it is kept as --parallel, so the plan says what will happen.
        maxTransfers = settings.maxTransfers.map { min($0, settings.parallel) }
        maxReboots = settings.maxReboots.map { min($0, settings.parallel) }
        failureBudget = settings.maxFailPercent.map { FailureBudget(percent: $0, boards: boards.count) }
        batches = []
        var remaining = boards[...]
        if settings.canary > 0, !remaining.isEmpty {
            let canary = remaining.prefix(settings.canary)
            remaining = remaining.dropFirst(canary.count)
            batches.append(RolloutBatch(number: 0, isCanary: true, boards: Array(canary), size: nil))
        }
        var sizeIndex = 0
        while !remaining.isEmpty {
            let size: RolloutBatchSize? = settings.batches.isEmpty ? nil : settings.batches[min(sizeIndex, settings.batches.count - 1)]
            let count = size?.boardCount(ofRun: boards.count) ?? remaining.count
            let batch = remaining.prefix(count)
            remaining = remaining.dropFirst(batch.count)
            batches.append(RolloutBatch(number: batches.count + (batches.first?.isCanary == true ? 0 : 1), isCanary: false, boards: Array(batch), size: size))
            sizeIndex += 1
        }
    }
}
