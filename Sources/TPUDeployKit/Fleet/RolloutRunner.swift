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
        var results: [String: FleetBoardResult] = [:]
        var failures = 0
        var stoppedBy: String?
        for batch in plan.batches {
            if stoppedBy != nil || control.isStopping { break }
            let fresh = batch.boards.filter { !(earlier[$0.name]?.endedWell ?? false) }
            if !fresh.isEmpty { await steps.distribute(to: fresh, control: control) }
            var batchResults: [FleetBoardResult] = []
            await withTaskGroup(of: FleetBoardResult.self) { group in
                var pending = batch.boards.makeIterator()
                var running = 0
                func startNext() {
                    guard stoppedBy == nil, !control.isStopping, let board = pending.next() else { return }
                    running += 1
                    group.addTask { await work(on: board, sink: sink) }
                }
                for _ in 0..<plan.parallel { startNext() }
                while running > 0, let result = await group.next() {
                    running -= 1
                    results[result.name] = result
                    batchResults.append(result)
                    if [.failed, .unreachable, .notBack].contains(result.outcome) {
                        failures += 1
                        if let budget = plan.failureBudget, !budget.allowsNewBoards(afterFailures: failures) {
                            stoppedBy = stoppedBy ?? "failure_budget"
                        }
                    }
                    startNext()
                }
            }
            if batch.isCanary, stoppedBy == nil, !control.isStopping {
                if batchResults.contains(where: { $0.outcome != .ok && $0.outcome != .skipped }) {
                    stoppedBy = "canary_failed"
                } else if let approveCanary, !(await approveCanary(batch.boards.compactMap { results[$0.name] })) {
                    stoppedBy = "declined"
                }
            }
        }
        if stoppedBy == nil, control.isStopping { stoppedBy = "interrupt" }
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
        let summary = FleetSummary(run: run, command: "rollout", boards: boards, seconds: FleetInspector.seconds(since: started), stoppedBy: stoppedBy)
        journal?.writeSummary(summary)
        return summary
    }

    /// One board from connect to its outcome.
    private func work(on board: FleetBoard, sink: RolloutEventSink) async -> FleetBoardResult {
        let started = ContinuousClock.now
        let before = earlier[board.name] ?? RolloutJournal.BoardState()
        if before.endedWell, let outcome = before.outcome {
            let detail = "ended \(outcome.rawValue) in an earlier pass of this run"
            sink.send(board, .done, outcome.rawValue, detail: detail)
            return FleetBoardResult(name: board.name, host: board.target.host, outcome: outcome, phase: .done, error: nil, seconds: 0, detail: detail)
        }
        var phase = FleetPhase.connect
        var handle: (any RolloutBoardWork)?
        func finish(_ outcome: FleetBoardOutcome, phase: FleetPhase, error: FleetBoardError? = nil, detail: String? = nil) async -> FleetBoardResult {
            await handle?.close()
            let seconds = FleetInspector.seconds(since: started)
            sink.send(board, phase, outcome.rawValue, error: error, seconds: seconds, detail: detail)
            journal?.record(.init(time: FleetJSONLines.timestamp(), board: board.name, phase: .done, status: outcome.rawValue, error: error))
            return FleetBoardResult(name: board.name, host: board.target.host, outcome: outcome, phase: phase, error: error, seconds: seconds, detail: detail)
        }
        do {
            sink.send(board, .connect, "started")
            let work = try await steps.open(board, control: control)
            handle = work
            phase = .inspect
            sink.send(board, .inspect, "started")
            let inspection = try await work.inspect()
            sink.send(board, .inspect, "done", detail: inspection.reason)
            if inspection.isAtTarget { return await finish(.skipped, phase: .done, detail: inspection.reason) }
            var ranAgain = false
            var done: [String] = []
            for next in inspection.needs {
                phase = next
                if !ranAgain, [.launch, .verify].contains(next), before.finished.contains(next) {
                    sink.send(board, next, "skipped", detail: "finished in an earlier pass of this run")
                    continue
                }
                if control.isStopping {
                    throw RolloutStepError(code: "interrupted", message: "stopped by Ctrl-C before \(next.rawValue); `tpudeploy fleet rollout --resume` continues it", retryable: true)
                }
                let phaseStarted = ContinuousClock.now
                sink.send(board, next, "started", detail: next == .fixMemory ? inspection.layout : nil)
                let detail = try await work.perform(next) { progress in
                    sink.send(board, next, "progress", detail: progress.detail, bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal)
                }
                ranAgain = true
                done.append(next.rawValue)
                sink.send(board, next, "done", seconds: FleetInspector.seconds(since: phaseStarted), detail: detail)
                journal?.record(.init(time: FleetJSONLines.timestamp(), board: board.name, phase: next, status: "done"))
            }
            return await finish(.ok, phase: .done, detail: done.isEmpty ? nil : done.joined(separator: ", "))
        } catch {
            let (outcome, info) = RolloutStepError.classify(error, phase: phase)
            return await finish(outcome, phase: phase, error: info)
        }
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

/// Hands the runner's events to the caller one at a time, whichever board's task sends them.
final class RolloutEventSink: @unchecked Sendable {
    private let lock = NSLock()
    private let run: String
    private let deliver: @Sendable (FleetEvent) -> Void

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
