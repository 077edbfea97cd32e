import Foundation

/// Takes the boards of a `RolloutPlan` through their phases: the canary alone (then the go-ahead), the batches
/// one after the other, at most `plan.parallel` boards at once within a batch. A board is opened, inspected once,
/// skipped when already at the target, else taken through the phases its inspection asks for. The failure budget
/// counts failed, unreachable and not-back boards over the whole run; once it is exceeded (or the canary fails, or
/// Ctrl-C is pressed) no new board starts, the boards in flight finish, and the rest are `not_started`.
public struct RolloutRunner: Sendable {
    public var plan: RolloutPlan
    public var steps: any RolloutSteps
    public var control: RolloutControl
    /// Where the run is recorded as it happens; nil records nothing.
    public var journal: RolloutJournal?
    /// Asked once the canary ended well; false stops the run (`declined`). Nil goes on (`--yes`).
    public var approveCanary: (@Sendable ([FleetBoardResult]) async -> Bool)?
    /// What an earlier pass of the same run did (`--resume`): boards that ended well are not touched again;
    /// launch and verify recorded as finished are not repeated unless an earlier phase ran again.
    public var earlier: [String: RolloutJournal.BoardState] = [:]

    public init(plan: RolloutPlan, steps: any RolloutSteps, control: RolloutControl = RolloutControl(), journal: RolloutJournal? = nil,
                approveCanary: (@Sendable ([FleetBoardResult]) async -> Bool)? = nil) {
        self.plan = plan
        self.steps = steps
        self.control = control
        self.journal = journal
        self.approveCanary = approveCanary
    }

    /// Runs the rollout and returns its summary, boards in the plan's order. `onEvent` gets each event as it
    /// happens, one call at a time.
    public func run(run: String, onEvent: @escaping @Sendable (FleetEvent) -> Void) async -> FleetSummary {
        let started = ContinuousClock.now
        let sink = RolloutEventSink(run: run, deliver: onEvent)
        let tally = RolloutTally(plan: plan)
        let limits = RolloutPhaseLimits(plan: plan)
        let seeds = RolloutSeeds(keeps: steps.distributes ? 1 : 0)
        for batch in plan.batches {
            if tally.stoppedBy != nil || control.isStopping { break }
            let batchResults = steps.distributes
                ? await runDistributing(batch, sink: sink, tally: tally, limits: limits, seeds: seeds)
                : await runEach(batch, sink: sink, tally: tally, limits: limits, seeds: seeds)
            if batch.isCanary, tally.stoppedBy == nil, !control.isStopping {
                if batchResults.contains(where: { $0.outcome != .ok && $0.outcome != .skipped }) {
                    tally.stoppedBy = "canary_failed"
                } else if let approveCanary, !(await approveCanary(batch.boards.compactMap { tally.results[$0.name] })) {
                    tally.stoppedBy = "declined"
                }
            }
        }
        await seeds.closeAll()
        var stoppedBy = tally.stoppedBy
        let results = tally.results
        if stoppedBy == nil, control.isStopping { stoppedBy = "interrupt" }
        // A budget exceeded (or a canary failed) by the run's last boards held nothing back: the run failed, it
        // was not aborted.
        if stoppedBy == "failure_budget" || stoppedBy == "canary_failed", plan.batches.flatMap(\.boards).allSatisfy({ results[$0.name] != nil }) {
            stoppedBy = nil
        }
        let why: String
        switch stoppedBy {
        case "failure_budget": why = "the failure budget was exceeded before it started"
        case "canary_failed": why = "the canary failed before it started"
        case "declined": why = "the rollout was not confirmed after the canary"
        default: why = "the run was interrupted before it started"
        }
        var boards: [FleetBoardResult] = []
        for batch in plan.batches {
            for board in batch.boards {
                if let result = results[board.name] {
                    boards.append(result)
                    continue
                }
                let result = FleetBoardResult(name: board.name, host: board.target.host, outcome: .notStarted, phase: .connect, error: nil,
                                              seconds: 0, detail: why)
                sink.send(board, .done, FleetBoardOutcome.notStarted.rawValue, detail: why)
                journal?.record(.init(time: FleetJSONLines.timestamp(), board: board.name, phase: .done, status: FleetBoardOutcome.notStarted.rawValue))
                boards.append(result)
            }
        }
        var summary = FleetSummary(run: run, command: "rollout", boards: boards, seconds: FleetInspector.seconds(since: started), stoppedBy: stoppedBy)
        summary.hostBytesSent = tally.relayHostBytes + sink.pushBytes
        summary.relayHostBytesSent = steps.distributes ? tally.relayHostBytes : nil
        journal?.writeSummary(summary)
        return summary
    }

    /// One batch, each board from connect to its outcome in one go, `plan.parallel` at once.
    private func runEach(_ batch: RolloutBatch, sink: RolloutEventSink, tally: RolloutTally, limits: RolloutPhaseLimits,
                         seeds: RolloutSeeds) async -> [FleetBoardResult] {
        await inParallel(batch.boards, tally: tally) { board in
            switch await begin(board, sink: sink, seeds: seeds) {
            case .ended(let result): return result
            case .begun(let begun): return await toTheEnd(begun, sink: sink, limits: limits, seeds: seeds)
            }
        }
    }

    /// One batch with a distribution, in four steps, each `plan.parallel` at once: every board opened and
    /// inspected; the boards that need a new layout take it (fix-memory, reboot); then the payload is spread among
    /// the boards still standing that lack files, and every board goes through the rest of its phases. A board
    /// refused for fit, or not back from its reboot, so receives nothing. A board inspected (or past its reboot)
    /// whose phases the run then held back (budget, canary) is closed and ends not started.
    private func runDistributing(_ batch: RolloutBatch, sink: RolloutEventSink, tally: RolloutTally, limits: RolloutPhaseLimits,
                                 seeds: RolloutSeeds) async -> [FleetBoardResult] {
        let ready = ReadyBoards()
        var results = await inParallel(batch.boards, tally: tally) { board in
            switch await begin(board, sink: sink, seeds: seeds) {
            case .ended(let result): return result
            case .begun(let begun): ready.add(begun); return nil
            }
        }
        let relayLater = Set(RolloutInspection.order.filter { !Self.memoryPhases.contains($0) })
        let needLayout = batch.boards.compactMap { ready.board($0.name) }.filter { Self.memoryPhases.contains($0.remaining.first ?? .done) }
        results += await inParallel(needLayout.map(\.board), tally: tally) { board in
            guard let begun = ready.take(board.name) else { return nil }
            switch await advance(begun, pausingAt: relayLater, sink: sink, limits: limits, seeds: seeds) {
            case .ended(let result): return result
            case .paused(let paused): ready.add(paused); return nil
            }
        }
        let standing = batch.boards.compactMap { ready.board($0.name) }
        let targets = standing.filter { $0.remaining.contains(.push) }
        if !targets.isEmpty, tally.stoppedBy == nil, !control.isStopping {
            await distribute(targets, seeds: seeds.kept, sink: sink, tally: tally)
        }
        results += await inParallel(standing.map(\.board), tally: tally) { board in
            guard let begun = ready.take(board.name) else { return nil }
            return await toTheEnd(begun, sink: sink, limits: limits, seeds: seeds)
        }
        // Boards whose phases did not go on: after Ctrl-C they were stopped between phases (they end
        // `interrupted`, as `advance` says); held back by the budget, they end not started.
        for name in batch.boards.map(\.name) {
            guard let held = ready.take(name) else { continue }
            if control.isStopping {
                let result = await toTheEnd(held, sink: sink, limits: limits, seeds: seeds)
                tally.record(result)
                results.append(result)
            } else {
                await held.work.close()
            }
        }
        return results
    }

    /// The phases that change the board's layout; a distributing run takes them before the relay.
    static let memoryPhases: Set<FleetPhase> = [.fixMemory, .reboot]

    /// Spreads the payload among the boards that lack files, with `distribute` events for each.
    private func distribute(_ boards: [BegunBoard], seeds: [RolloutDistributionTarget], sink: RolloutEventSink, tally: RolloutTally) async {
        let byName = Dictionary(boards.map { ($0.board.name, $0) }, uniquingKeysWith: { first, _ in first })
        for begun in boards { sink.send(begun.board, .distribute, "started", bytesTotal: begun.inspection.bytesToSend) }
        let report = await steps.distribute(boards.map { RolloutDistributionTarget(board: $0.board, work: $0.work, inspection: $0.inspection) },
                                            seeds: seeds, control: control) { name, progress in
            guard let begun = byName[name] else { return }
            sink.send(begun.board, .distribute, "progress", detail: progress.detail, bytesDone: progress.bytesDone,
                      bytesTotal: progress.bytesDone == nil ? nil : progress.bytesTotal ?? begun.inspection.bytesToSend)
        }
        tally.relayHostBytes += report.hostBytesSent
        for begun in boards {
            switch report.outcomes[begun.board.name] {
            case .ok(let detail):
                sink.send(begun.board, .distribute, "done", detail: detail)
                journal?.record(.init(time: FleetJSONLines.timestamp(), board: begun.board.name, phase: .distribute, status: "done"))
            case .failed(let error):
                sink.send(begun.board, .distribute, "failed", error: error, detail: "its push sends it the files")
            case nil:
                sink.send(begun.board, .distribute, "failed", error: FleetBoardError(code: "not_distributed", message: "the distribution did not report on \(begun.board.name)"),
                          detail: "its push sends it the files")
            }
        }
    }

    /// Runs `body` on `boards`, at most `plan.parallel` at once, starting none once the run is stopping; each
    /// result is recorded and counted against the failure budget as it comes.
    private func inParallel(_ boards: [FleetBoard], tally: RolloutTally,
                            _ body: @escaping @Sendable (FleetBoard) async -> FleetBoardResult?) async -> [FleetBoardResult] {
        await withTaskGroup(of: FleetBoardResult?.self) { group in
            var batchResults: [FleetBoardResult] = []
            var pending = boards.makeIterator()
            var running = 0
            func startNext() {
                guard tally.stoppedBy == nil, !control.isStopping, let board = pending.next() else { return }
                running += 1
                group.addTask { await body(board) }
            }
            for _ in 0..<plan.parallel { startNext() }
            while running > 0, let result = await group.next() {
                running -= 1
                if let result {
                    batchResults.append(result)
                    tally.record(result)
                }
                startNext()
            }
            return batchResults
        }
    }

    /// A board opened and inspected, with the phases its inspection asked for that are still to run.
    struct BegunBoard: Sendable {
        var board: FleetBoard
        var work: any RolloutBoardWork
        var inspection: RolloutInspection
        var before: RolloutJournal.BoardState
        var started: ContinuousClock.Instant
        /// The phases still to run, in order.
        var remaining: [FleetPhase]
        /// Phases run in this pass so far (a launch or verify an earlier pass finished is repeated after one).
        var done: [FleetPhase] = []

        init(board: FleetBoard, work: any RolloutBoardWork, inspection: RolloutInspection, before: RolloutJournal.BoardState, started: ContinuousClock.Instant) {
            self.board = board
            self.work = work
            self.inspection = inspection
            self.before = before
            self.started = started
            remaining = inspection.needs
        }
    }

    enum Begin: Sendable {
        case ended(FleetBoardResult)
        case begun(BegunBoard)
    }

    /// Where `advance` left a board: at its outcome, or before a phase it was asked to pause at.
    enum Advanced: Sendable {
        case ended(FleetBoardResult)
        case paused(BegunBoard)
    }

    /// Connects to and inspects one board: it ends there when an earlier pass finished it, it is at the target,
    /// or it failed; else it has phases to run.
    private func begin(_ board: FleetBoard, sink: RolloutEventSink, seeds: RolloutSeeds) async -> Begin {
        let started = ContinuousClock.now
        let before = earlier[board.name] ?? RolloutJournal.BoardState()
        if before.endedWell, let outcome = before.outcome {
            let detail = "ended \(outcome.rawValue) in an earlier pass of this run"
            sink.send(board, .done, outcome.rawValue, detail: detail)
            return .ended(FleetBoardResult(name: board.name, host: board.target.host, outcome: outcome, phase: .done, error: nil, seconds: 0, detail: detail))
        }
        var phase = FleetPhase.connect
        var handle: (any RolloutBoardWork)?
        do {
            sink.send(board, .connect, "started")
            let work = try await steps.open(board, control: control)
            handle = work
            phase = .inspect
            sink.send(board, .inspect, "started")
            let inspection = try await work.inspect()
            sink.send(board, .inspect, "done", detail: inspection.reason)
            if inspection.isAtTarget {
                let seed = RolloutDistributionTarget(board: board, work: work, inspection: inspection)
                return .ended(await finish(board, work, started: started, .skipped, phase: .done, detail: inspection.reason, sink: sink, seed: seeds.offer(seed)))
            }
            return .begun(BegunBoard(board: board, work: work, inspection: inspection, before: before, started: started))
        } catch {
            let (outcome, info) = RolloutStepError.classify(error, phase: phase)
            return .ended(await finish(board, handle, started: started, outcome, phase: phase, error: info, sink: sink))
        }
    }

    /// Takes an inspected board through all its remaining phases, to its outcome.
    private func toTheEnd(_ begun: BegunBoard, sink: RolloutEventSink, limits: RolloutPhaseLimits, seeds: RolloutSeeds) async -> FleetBoardResult {
        var board = begun
        while true {
            switch await advance(board, sink: sink, limits: limits, seeds: seeds) {
            case .ended(let result): return result
            case .paused(let paused): board = paused   // not asked to pause: it does not
            }
        }
    }

    /// Takes an inspected board through its remaining phases, to its outcome, or until the next phase is one of
    /// `pause`. A push waits for a transfer slot; fix-memory and the reboot after it hold one reboot slot.
    private func advance(_ begun: BegunBoard, pausingAt pause: Set<FleetPhase> = [], sink: RolloutEventSink,
                         limits: RolloutPhaseLimits, seeds: RolloutSeeds) async -> Advanced {
        var begun = begun
        let board = begun.board
        var phase = FleetPhase.inspect
        var held: [RolloutSlots] = []
        func release(_ slots: RolloutSlots) {
            if let index = held.firstIndex(where: { $0 === slots }) { held.remove(at: index).release() }
        }
        defer { for slots in held { slots.release() } }
        do {
            while let next = begun.remaining.first {
                if pause.contains(next) { return .paused(begun) }
                phase = next
                begun.remaining.removeFirst()
                if begun.done.isEmpty, [.launch, .verify].contains(next), begun.before.finished.contains(next) {
                    sink.send(board, next, "skipped", detail: "finished in an earlier pass of this run")
                    continue
                }
                let slots: RolloutSlots? = next == .push ? limits.transfers : Self.memoryPhases.contains(next) ? limits.reboots : nil
                if let slots, !held.contains(where: { $0 === slots }) {
                    await slots.acquire()
                    held.append(slots)
                }
                if control.isStopping {
                    throw RolloutStepError(code: "interrupted", message: "stopped by Ctrl-C before \(next.rawValue); `tpudeploy fleet rollout --resume` continues it", retryable: true)
                }
                let phaseStarted = ContinuousClock.now
                sink.send(board, next, "started", detail: next == .fixMemory ? begun.inspection.layout : nil)
                let detail = try await begun.work.perform(next) { progress in
                    if let sent = progress.hostBytesSent { sink.pushed(board.name, sent) }
                    if progress.detail == nil, progress.bytesDone == nil { return }
                    sink.send(board, next, "progress", detail: progress.detail, bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal)
                }
                if next == .push || next == .reboot, let slots { release(slots) }
                begun.done.append(next)
                sink.send(board, next, "done", seconds: FleetInspector.seconds(since: phaseStarted), detail: detail)
                journal?.record(.init(time: FleetJSONLines.timestamp(), board: board.name, phase: next, status: "done"))
            }
            let done = begun.done.map(\.rawValue)
            let seed = RolloutDistributionTarget(board: board, work: begun.work, inspection: begun.inspection)
            return .ended(await finish(board, begun.work, started: begun.started, .ok, phase: .done, detail: done.isEmpty ? nil : done.joined(separator: ", "),
                                       sink: sink, seed: seeds.offer(seed)))
        } catch {
            // The slots go first: closing a board that failed must not hold another board back.
            for slots in held { slots.release() }
            held = []
            let (outcome, info) = RolloutStepError.classify(error, phase: phase)
            return .ended(await finish(board, begun.work, started: begun.started, outcome, phase: phase, error: info, sink: sink))
        }
    }

    /// Closes the board's session, unless it was kept as a seed for the next batches' relay, and reports and
    /// records its outcome.
    private func finish(_ board: FleetBoard, _ handle: (any RolloutBoardWork)?, started: ContinuousClock.Instant, _ outcome: FleetBoardOutcome,
                        phase: FleetPhase, error: FleetBoardError? = nil, detail: String? = nil, sink: RolloutEventSink,
                        seed kept: Bool = false) async -> FleetBoardResult {
        if !kept { await handle?.close() }
        let seconds = FleetInspector.seconds(since: started)
        sink.send(board, phase, outcome.rawValue, error: error, seconds: seconds, detail: detail)
        journal?.record(.init(time: FleetJSONLines.timestamp(), board: board.name, phase: .done, status: outcome.rawValue, error: error))
        return FleetBoardResult(name: board.name, host: board.target.host, outcome: outcome, phase: phase, error: error, seconds: seconds, detail: detail)
    }

    /// `--dry-run`: opens and inspects every board (at most `plan.parallel` at once, whatever the batches),
    /// changes nothing, and returns what each board would need.
    public func survey(run: String, onEvent: @escaping @Sendable (FleetEvent) -> Void) async -> [String: Result<RolloutInspection, RolloutSurveyFailure>] {
        let sink = RolloutEventSink(run: run, deliver: onEvent)
        let boards = plan.batches.flatMap(\.boards)
        return await withTaskGroup(of: (String, Result<RolloutInspection, RolloutSurveyFailure>).self) { group in
            var found: [String: Result<RolloutInspection, RolloutSurveyFailure>] = [:]
            var pending = boards.makeIterator()
            func startNext() {
                guard !control.isStopping, let board = pending.next() else { return }
                group.addTask {
                    var phase = FleetPhase.connect
                    var handle: (any RolloutBoardWork)?
                    do {
                        sink.send(board, .connect, "started")
                        let work = try await steps.open(board, control: control)
                        handle = work
                        phase = .inspect
                        let inspection = try await work.inspect()
                        await work.close()
                        sink.send(board, .inspect, "done", detail: inspection.reason)
                        return (board.name, .success(inspection))
                    } catch {
                        await handle?.close()
                        let (outcome, info) = RolloutStepError.classify(error, phase: phase)
                        sink.send(board, phase, outcome.rawValue, error: info)
                        return (board.name, .failure(RolloutSurveyFailure(outcome: outcome, phase: phase, error: info)))
                    }
                }
            }
            for _ in 0..<plan.parallel { startNext() }
            while let (name, result) = await group.next() {
                found[name] = result
                startNext()
            }
            return found
        }
    }
}

/// A board the dry run could not inspect: its outcome, where, and why.
public struct RolloutSurveyFailure: Error, Sendable, Equatable {
    public var outcome: FleetBoardOutcome
    public var phase: FleetPhase
    public var error: FleetBoardError
}

extension RolloutJournal.BoardState {
    /// The board ended ok or skipped: a resumed run leaves it alone.
    var endedWell: Bool { outcome == .ok || outcome == .skipped }
}

/// What the batches of one run have found so far: each board's result, the failures against the budget, why
/// the run stopped starting boards, and the bytes the relays sent. Touched from the runner's own task only.
final class RolloutTally: @unchecked Sendable {
    let plan: RolloutPlan
    var results: [String: FleetBoardResult] = [:]
    var failures = 0
    var stoppedBy: String?
    var relayHostBytes: UInt64 = 0

    init(plan: RolloutPlan) { self.plan = plan }

    func record(_ result: FleetBoardResult) {
        results[result.name] = result
        guard [.failed, .unreachable, .notBack].contains(result.outcome) else { return }
        failures += 1
        if let budget = plan.failureBudget, !budget.allowsNewBoards(afterFailures: failures) {
            stoppedBy = stoppedBy ?? "failure_budget"
        }
    }
}

/// The boards of a batch that were inspected and have phases to run, filled by their tasks.
final class ReadyBoards: @unchecked Sendable {
    private let lock = NSLock()
    private var boards: [String: RolloutRunner.BegunBoard] = [:]

    func add(_ board: RolloutRunner.BegunBoard) { lock.withLock { boards[board.board.name] = board } }
    func board(_ name: String) -> RolloutRunner.BegunBoard? { lock.withLock { boards[name] } }
    /// The board, once: it is no longer held.
    func take(_ name: String) -> RolloutRunner.BegunBoard? { lock.withLock { boards.removeValue(forKey: name) } }
}

/// Hands the runner's events to the caller one at a time, whichever board's task sends them.
final class RolloutEventSink: @unchecked Sendable {
    private let lock = NSLock()
    private let run: String
    private let deliver: @Sendable (FleetEvent) -> Void
    private var pushedBytes: [String: UInt64] = [:]

    /// File bytes the boards' pushes sent, all boards together.
    var pushBytes: UInt64 { lock.withLock { pushedBytes.values.reduce(0, +) } }

    /// Records what a board's push has sent so far.
    func pushed(_ board: String, _ bytes: UInt64) { lock.withLock { pushedBytes[board] = bytes } }

    init(run: String, deliver: @escaping @Sendable (FleetEvent) -> Void) {
        self.run = run
        self.deliver = deliver
    }

    func send(_ board: FleetBoard, _ phase: FleetPhase, _ status: String, error: FleetBoardError? = nil, seconds: Double? = nil,
              detail: String? = nil, bytesDone: UInt64? = nil, bytesTotal: UInt64? = nil) {
        let event = FleetEvent(run: run, time: FleetJSONLines.timestamp(), board: board.name, host: board.target.host, phase: phase,
                               status: status, error: error, seconds: seconds, detail: detail, bytesDone: bytesDone, bytesTotal: bytesTotal)
        lock.withLock { deliver(event) }
    }
}
