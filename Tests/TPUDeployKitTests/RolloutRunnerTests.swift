import Foundation
import Testing
@testable import TPUDeployKit

/// Fake per-board steps: each board's inspection and failures are set by the test; every call is recorded with
/// the boards in flight at that moment, so scheduling is checked from what happened, not from timing.
final class FakeRolloutSteps: RolloutSteps, @unchecked Sendable {
    struct Script {
        var needs: [FleetPhase] = [.push, .launch, .verify]
        var openError: Error?
        var failing: (phase: FleetPhase, error: Error)?
        /// Called as this phase begins (e.g. to press Ctrl-C while the board is in it).
        var during: (FleetPhase, @Sendable () -> Void)?
    }

    private let lock = NSLock()
    private var scripts: [String: Script]
    private(set) var calls: [String] = []
    private(set) var inFlight: Set<String> = []
    private(set) var mostInFlight = 0
    /// For each board opened, the boards that had already ended then.
    private(set) var endedBeforeOpen: [String: Set<String>] = [:]
    private var ended: Set<String> = []
    private(set) var distributed: [[String]] = []
    /// The seeds each `distribute` call was given.
    private(set) var seeded: [[String]] = []
    /// Boards in each phase right now, and the most seen at once.
    private var inPhase: [FleetPhase: Set<String>] = [:]
    private(set) var mostInPhase: [FleetPhase: Int] = [:]
    /// Boards holding a reboot slot's span (from fix_memory to the end of the reboot), and the most at once.
    private var changingLayout: Set<String> = []
    private(set) var mostChangingLayout = 0

    init(_ scripts: [String: Script] = [:]) { self.scripts = scripts }

    func record(_ call: String) { lock.withLock { calls.append(call) } }
    func script(_ name: String) -> Script { lock.withLock { scripts[name] ?? Script() } }
    func setScript(_ name: String, _ script: Script) { lock.withLock { scripts[name] = script } }
    func calls(of board: String) -> [String] { lock.withLock { calls.filter { $0.hasPrefix(board + ":") }.map { String($0.dropFirst(board.count + 1)) } } }

    func open(_ board: FleetBoard, control: RolloutControl) async throws -> any RolloutBoardWork {
        lock.withLock {
            calls.append("\(board.name):open")
            endedBeforeOpen[board.name] = ended
            inFlight.insert(board.name)
            mostInFlight = max(mostInFlight, inFlight.count)
        }
        // Let other boards' tasks run: a runner that started too many would show it in `mostInFlight`.
        await Task.yield()
        if let error = script(board.name).openError {
            end(board.name)
            throw error
        }
        return Work(board: board.name, steps: self)
    }

    /// Set by a test: the runner inspects a batch first and calls `distribute` with the boards that lack files.
    var distributes = false
    /// Boards whose distribution fails (their push sends the files).
    var distributionFails: Set<String> = []

    func distribute(_ boards: [RolloutDistributionTarget], seeds: [RolloutDistributionTarget], control: RolloutControl,
                    progress: @escaping @Sendable (String, RolloutProgress) -> Void) async -> RolloutDistributionReport {
        lock.withLock {
            distributed.append(boards.map(\.board.name))
            seeded.append(seeds.map(\.board.name))
            calls += boards.map { "\($0.board.name):distribute" }
        }
        var report = RolloutDistributionReport(hostBytesSent: boards.isEmpty ? 0 : 1000)
        for target in boards {
            progress(target.board.name, RolloutProgress(bytesDone: 500))
            report.outcomes[target.board.name] = distributionFails.contains(target.board.name)
                ? .failed(FleetBoardError(code: "agent_exited", message: "the relay agent ended"))
                : .ok("3 files from the host")
        }
        return report
    }

    func end(_ name: String) { lock.withLock { inFlight.remove(name); ended.insert(name) } }

    func enter(_ board: String, _ phase: FleetPhase) {
        lock.withLock {
            inPhase[phase, default: []].insert(board)
            mostInPhase[phase] = max(mostInPhase[phase] ?? 0, inPhase[phase]?.count ?? 0)
            if phase == .fixMemory || phase == .reboot {
                changingLayout.insert(board)
                mostChangingLayout = max(mostChangingLayout, changingLayout.count)
            }
        }
    }

    func leave(_ board: String, _ phase: FleetPhase, failed: Bool) {
        lock.withLock {
            inPhase[phase]?.remove(board)
            if phase == .reboot || failed { changingLayout.remove(board) }
        }
    }

    struct Work: RolloutBoardWork {
        var board: String
        var steps: FakeRolloutSteps

        func inspect() async throws -> RolloutInspection {
            steps.record("\(board):inspect")
            let needs = steps.script(board).needs
            return RolloutInspection(needs: needs, reason: needs.isEmpty ? "already at the target" : "needs \(needs.map(\.rawValue))",
                                     layout: needs.contains(.fixMemory) ? "npu 4864 MiB" : nil, bytesToSend: needs.contains(.push) ? 1000 : 0)
        }

        func perform(_ phase: FleetPhase, progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String? {
            steps.record("\(board):\(phase.rawValue)")
            let script = steps.script(board)
            if let (when, action) = script.during, when == phase { action() }
            steps.enter(board, phase)
            // Stay a while, letting other boards' tasks run: a runner that let too many in would show it.
            for _ in 0..<(phase == .push || phase == .reboot || phase == .fixMemory ? 50 : 1) { await Task.yield() }
            let failure = script.failing.flatMap { $0.phase == phase ? $0.error : nil }
            steps.leave(board, phase, failed: failure != nil)
            if let failure { throw failure }
            if phase == .push {
                progress(RolloutProgress(bytesDone: 1000, bytesTotal: 1000))
                progress(RolloutProgress(hostBytesSent: 1000))
            }
            return nil
        }

        func close() async {
            steps.record("\(board):close")
            steps.end(board)
        }
    }
}

/// Events as the runner delivered them.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var events: [FleetEvent] = []
    func add(_ event: FleetEvent) { lock.withLock { events.append(event) } }
    func of(_ board: String) -> [String] { lock.withLock { events.filter { $0.board == board }.map { "\($0.phase.rawValue)/\($0.status)" } } }
}

@Suite("rollout runner with fake steps")
struct RolloutRunnerTests {
    static func boards(_ count: Int) -> [FleetBoard] {
        (1...count).map { FleetBoard(name: "b\($0)", target: SSHTarget(host: "192.0.2.\($0)")) }
    }

    static func plan(_ count: Int, canary: Int = 1, batch: String? = nil, maxFail: Double? = nil, parallel: Int = 4,
                     maxTransfers: Int? = nil, maxReboots: Int? = nil) throws -> RolloutPlan {
        try RolloutPlan(boards: boards(count), settings: RolloutSettings(
            canary: canary, batches: try batch.map(RolloutBatchSize.list(parsing:)) ?? [], maxFailPercent: maxFail, parallel: parallel,
            maxTransfers: maxTransfers, maxReboots: maxReboots))
    }

    static func run(_ runner: RolloutRunner, log: EventLog = EventLog()) async -> FleetSummary {
        await runner.run(run: "rollout-test") { log.add($0) }
    }

    static let failure = RolloutStepError(code: "push_failed", message: "no space left on /data")

    @Test func batchesRunInOrderAtMostParallelAtOnceEachBoardThroughItsPhases() async throws {
        let steps = FakeRolloutSteps(["b1": .init(needs: [.fixMemory, .reboot, .push, .launch, .verify])])
        let plan = try Self.plan(9, batch: "4", parallel: 2)
        let log = EventLog()
        let summary = await Self.run(RolloutRunner(plan: plan, steps: steps), log: log)
        #expect(summary.outcome == "ok")
        #expect(summary.exitCode == 0)
        #expect(summary.boards.map(\.name) == (1...9).map { "b\($0)" })
        #expect(summary.boards.allSatisfy { $0.outcome == .ok && $0.phase == .done })
        #expect(steps.mostInFlight <= 2)
        #expect(steps.mostInFlight == 2)
        // No board of a batch opens before every board of the batches before it ended.
        for (index, batch) in plan.batches.enumerated() {
            let before = Set(plan.batches.prefix(index).flatMap(\.boards).map(\.name))
            for board in batch.boards { #expect(before.isSubset(of: steps.endedBeforeOpen[board.name] ?? [])) }
        }
        #expect(steps.calls(of: "b1") == ["open", "inspect", "fix_memory", "reboot", "push", "launch", "verify", "close"])
        #expect(steps.calls(of: "b2") == ["open", "inspect", "push", "launch", "verify", "close"])
        #expect(log.of("b2") == ["connect/started", "inspect/started", "inspect/done", "push/started", "push/progress", "push/done",
                                 "launch/started", "launch/done", "verify/started", "verify/done", "done/ok"])
        // Steps that do not distribute are never asked to, and each board goes from connect to its end in one go.
        #expect(steps.distributed.isEmpty)
        #expect(summary.relayHostBytesSent == nil)
    }

    @Test func aDistributingRunInspectsABatchThenRelaysToTheBoardsThatLackFilesThenRunsTheirPhases() async throws {
        let steps = FakeRolloutSteps(["b3": .init(needs: []), "b4": .init(needs: [.launch, .verify])])
        steps.distributes = true
        steps.distributionFails = ["b5"]
        let plan = try Self.plan(5, batch: "4", parallel: 2)
        let log = EventLog()
        let summary = await Self.run(RolloutRunner(plan: plan, steps: steps), log: log)
        #expect(summary.outcome == "ok")
        #expect(summary.boards.map(\.outcome) == [.ok, .ok, .skipped, .ok, .ok])
        // The canary alone (a batch of one gets the host's send), then the boards of the batch that lack files:
        // not b3 (at the target), not b4 (it has its files).
        #expect(steps.distributed == [["b1"], ["b2", "b5"]])
        // The canary ended well: it heads the next batch's relay (it holds the payload), its session kept open
        // until the run's end, so the boards in flight are the batch and the seed.
        #expect(steps.seeded == [[], ["b1"]])
        #expect(steps.calls(of: "b1").last == "close")
        #expect(try #require(steps.calls.firstIndex(of: "b1:close")) > steps.calls.lastIndex { $0.hasSuffix(":verify") }!)
        #expect(steps.mostInFlight <= 5)
        // Every board of the batch was inspected before the distribution, and none started a phase before it.
        let calls = steps.calls
        let distributedAt = try #require(calls.firstIndex(of: "b2:distribute"))
        for board in ["b2", "b3", "b4", "b5"] {
            #expect(calls.firstIndex(of: "\(board):inspect")! < distributedAt)
        }
        for phase in ["b2:push", "b4:launch", "b5:push"] { #expect(calls.firstIndex(of: phase)! > distributedAt) }
        #expect(log.of("b2") == ["connect/started", "inspect/started", "inspect/done", "distribute/started", "distribute/progress",
                                 "distribute/done", "push/started", "push/progress", "push/done", "launch/started", "launch/done",
                                 "verify/started", "verify/done", "done/ok"])
        // A failed distribution is said, and the board goes on to its own push.
        let failed = try #require(log.events.first { $0.board == "b5" && $0.phase == .distribute && $0.status == "failed" })
        #expect(failed.error?.code == "agent_exited")
        #expect(failed.detail == "its push sends it the files")
        #expect(steps.calls(of: "b5").contains("push"))
        #expect(log.of("b3").contains { $0.hasPrefix("distribute") } == false)
        // The host's bytes: the relays' (1000 a batch) and the pushes' (1000 for each of b1, b2, b5).
        #expect(summary.relayHostBytesSent == 2000)
        #expect(summary.hostBytesSent == 5000)
    }

    @Test func aDistributingRunRelaysOnlyToBoardsThatWillPushAfterTheirLayoutIsFixed() async throws {
        let layout: [FleetPhase] = [.fixMemory, .reboot, .push, .launch, .verify]
        let refused = RolloutStepError(code: "no_layout_fits", message: "the layout fix-memory can give b3 cannot hold the model; nothing was changed")
        let notBack = MemoryFixError.boardDidNotReturn(target: "b4", seconds: 300, bootBackup: "/boot/emmcboot.itb.tpudeploy-bak", dataBackup: "/data/x.itb")
        let steps = FakeRolloutSteps([
            "b2": .init(needs: layout), "b3": .init(needs: layout, failing: (.fixMemory, refused)),
            "b4": .init(needs: layout, failing: (.reboot, notBack)), "b5": .init(needs: [.push, .launch, .verify]),
        ])
        steps.distributes = true
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-journal-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let plan = try Self.plan(5, canary: 0, maxFail: 100, parallel: 3)
        let journal = try RolloutJournal.create(.init(run: "rollout-fit", started: "now", inventory: "/x/boards.ini", limit: nil,
                                                      boards: plan.batches.flatMap(\.boards).map(\.name)), root: root)
        let log = EventLog()
        let summary = await Self.run(RolloutRunner(plan: plan, steps: steps, journal: journal), log: log)
        #expect(summary.boards.map(\.outcome) == [.ok, .ok, .failed, .notBack, .ok])
        #expect(summary.boards[2].error?.code == "no_layout_fits")
        // The board refused for fit and the one not back received nothing; the others got the relay after every
        // layout of the batch was settled.
        #expect(steps.distributed == [["b1", "b2", "b5"]])
        let calls = steps.calls
        let relayed = try #require(calls.firstIndex(of: "b1:distribute"))
        for phase in ["b2:fix_memory", "b2:reboot", "b3:fix_memory", "b4:reboot"] { #expect(try #require(calls.firstIndex(of: phase)) < relayed) }
        for phase in ["b1:push", "b2:push", "b5:push"] { #expect(try #require(calls.firstIndex(of: phase)) > relayed) }
        #expect(log.of("b2") == ["connect/started", "inspect/started", "inspect/done", "fix_memory/started", "fix_memory/done", "reboot/started",
                                 "reboot/done", "distribute/started", "distribute/progress", "distribute/done", "push/started", "push/progress",
                                 "push/done", "launch/started", "launch/done", "verify/started", "verify/done", "done/ok"])
        #expect(!log.of("b3").contains { $0.hasPrefix("distribute") })
        #expect(!log.of("b4").contains { $0.hasPrefix("distribute") })

        // The journal holds each board's finished phases across the two stages; a resume takes b3 and b4 again from
        // their inspection, and relays to them once their layout is there.
        let reopened = try RolloutJournal.open(run: "rollout-fit", root: root)
        let states = reopened.states()
        #expect(states["b2"]?.finished == [.fixMemory, .reboot, .distribute, .push, .launch, .verify])
        #expect(states["b4"]?.finished == [.fixMemory])
        #expect(states["b4"]?.outcome == .notBack)
        #expect(reopened.boardsToRetry() == ["b3", "b4"])
        let again = FakeRolloutSteps(["b3": .init(needs: layout), "b4": .init(needs: [.reboot, .push, .launch, .verify])])
        again.distributes = true
        var resumed = RolloutRunner(plan: plan, steps: again, journal: reopened)
        resumed.earlier = states
        let second = await Self.run(resumed)
        #expect(second.boards.map(\.outcome) == [.ok, .ok, .ok, .ok, .ok])
        #expect(again.distributed == [["b3", "b4"]])
        #expect(again.calls(of: "b4") == ["open", "inspect", "reboot", "distribute", "push", "launch", "verify", "close"])
        #expect(again.calls(of: "b1").isEmpty)
    }

    @Test func transfersAndRebootsHaveTheirOwnCapsWithinParallel() async throws {
        let layout: [FleetPhase] = [.fixMemory, .reboot, .push, .launch, .verify]
        let pushing = Dictionary(uniqueKeysWithValues: (1...8).map { ("b\($0)", FakeRolloutSteps.Script(needs: [.push, .launch, .verify])) })
        let relayouting = Dictionary(uniqueKeysWithValues: (1...8).map { ("b\($0)", FakeRolloutSteps.Script(needs: layout)) })
        // Without caps, more boards than the caps below are in each phase at once (so the caps are observable).
        let free = [FakeRolloutSteps(pushing), FakeRolloutSteps(relayouting)]
        for steps in free { _ = await Self.run(RolloutRunner(plan: try Self.plan(8, canary: 0, parallel: 6), steps: steps)) }
        #expect((free[0].mostInPhase[.push] ?? 0) > 2)
        #expect(free[1].mostChangingLayout > 2)

        for distributes in [false, true] {
            let transfers = FakeRolloutSteps(pushing)
            transfers.distributes = distributes
            let capped = await Self.run(RolloutRunner(plan: try Self.plan(8, canary: 0, parallel: 6, maxTransfers: 2), steps: transfers))
            #expect(capped.boards.allSatisfy { $0.outcome == .ok })
            #expect(transfers.mostInFlight == (distributes ? 8 : 6))
            #expect(transfers.mostInPhase[.push] == 2, "distributes: \(distributes)")

            // At most two boards at once from the start of their fix-memory to the end of their reboot.
            let reboots = FakeRolloutSteps(relayouting)
            reboots.distributes = distributes
            let rebooted = await Self.run(RolloutRunner(plan: try Self.plan(8, canary: 0, parallel: 6, maxReboots: 2), steps: reboots))
            #expect(rebooted.boards.allSatisfy { $0.outcome == .ok })
            #expect(reboots.mostChangingLayout == 2, "distributes: \(distributes)")
        }
        // A cap above --parallel is --parallel; a cap below 1 is refused.
        #expect(try Self.plan(3, parallel: 4, maxTransfers: 10).maxTransfers == 4)
        #expect(throws: InventoryError.self) { try Self.plan(3, maxReboots: 0) }
    }

    @Test func aDistributingRunOverBudgetClosesTheInspectedBoardsAndStartsNoneOfThem() async throws {
        let steps = FakeRolloutSteps(["b2": .init(failing: (.push, Self.failure))])
        steps.distributes = true
        let summary = await Self.run(RolloutRunner(plan: try Self.plan(5, canary: 0, maxFail: 0, parallel: 1), steps: steps))
        #expect(summary.outcome == "aborted")
        #expect(summary.boards.map(\.outcome) == [.ok, .failed, .notStarted, .notStarted, .notStarted])
        // Inspected with the batch, held back by the budget: their sessions are closed, no phase ran.
        for board in ["b3", "b4", "b5"] { #expect(steps.calls(of: board) == ["open", "inspect", "distribute", "close"]) }
    }

    @Test func aBoardAtTheTargetIsSkippedAfterOneLook() async throws {
        let steps = FakeRolloutSteps(["b2": .init(needs: [])])
        let summary = await Self.run(RolloutRunner(plan: try Self.plan(3), steps: steps))
        #expect(summary.boards.map(\.outcome) == [.ok, .skipped, .ok])
        #expect(summary.boards[1].detail == "already at the target")
        #expect(steps.calls(of: "b2") == ["open", "inspect", "close"])
        #expect(summary.exitCode == 0)
        #expect(summary.outcome == "ok")
    }

    @Test func theFailureBudgetCountsOverTheRunAndStopsNewBoards() async throws {
        // 10 boards at 10%: one failure allowed, the second stops the run. One at a time, so the order is known.
        let steps = FakeRolloutSteps([
            "b3": .init(failing: (.push, Self.failure)),
            "b5": .init(openError: SSHError.cannotResolveOrConnect(target: "b5", reason: "no route to host")),
        ])
        let summary = await Self.run(RolloutRunner(plan: try Self.plan(10, batch: "3", maxFail: 10, parallel: 1), steps: steps))
        #expect(summary.boards.map(\.outcome) == [.ok, .ok, .failed, .ok, .unreachable] + Array(repeating: .notStarted, count: 5))
        #expect(summary.boards[2].phase == .push)
        #expect(summary.boards[2].error == FleetBoardError(code: "push_failed", message: "no space left on /data"))
        #expect(summary.boards[4].phase == .connect)
        #expect(summary.boards[4].error?.code == "unreachable")
        #expect(summary.outcome == "aborted")
        #expect(summary.stoppedBy == "failure_budget")
        #expect(summary.exitCode == 4)
        #expect(steps.calls(of: "b6").isEmpty)
    }

    @Test func withinTheBudgetTheRunGoesOnAndExitCodesSayWhatWentWrong() async throws {
        let steps = FakeRolloutSteps(["b2": .init(openError: SSHError.cannotResolveOrConnect(target: "b2", reason: "no route to host"))])
        let unreachable = await Self.run(RolloutRunner(plan: try Self.plan(4, maxFail: 50), steps: steps))
        #expect(unreachable.boards.map(\.outcome) == [.ok, .unreachable, .ok, .ok])
        #expect(unreachable.outcome == "failed")
        #expect(unreachable.exitCode == 3)

        steps.setScript("b3", .init(needs: [.fixMemory, .reboot, .push, .launch, .verify], failing: (.reboot, MemoryFixError.boardDidNotReturn(
            target: "b3", seconds: 300, bootBackup: "/boot/emmcboot.itb.tpudeploy-bak", dataBackup: "/data/tpudeploy/backups/x.itb"))))
        let notBack = await Self.run(RolloutRunner(plan: try Self.plan(4, maxFail: 50), steps: steps))
        #expect(notBack.boards.map(\.outcome) == [.ok, .unreachable, .notBack, .ok])
        #expect(notBack.boards[2].error?.code == "board_not_back")
        #expect(notBack.boards[2].error?.message.contains("/data/tpudeploy/backups/x.itb") == true)
        #expect(notBack.exitCode == 2)
    }

    @Test func aFailedCanaryStopsTheRunWithoutABudget() async throws {
        let steps = FakeRolloutSteps(["b1": .init(failing: (.launch, Self.failure))])
        let summary = await Self.run(RolloutRunner(plan: try Self.plan(4), steps: steps))
        #expect(summary.boards.map(\.outcome) == [.failed, .notStarted, .notStarted, .notStarted])
        #expect(summary.stoppedBy == "canary_failed")
        #expect(summary.exitCode == 4)
        #expect(steps.calls(of: "b2").isEmpty)
    }

    @Test func aBudgetExceededByTheLastBoardsHoldsNothingBackSoTheRunFailedNotAborted() async throws {
        let alone = await Self.run(RolloutRunner(plan: try Self.plan(1), steps: FakeRolloutSteps(["b1": .init(failing: (.push, Self.failure))])))
        #expect(alone.boards.map(\.outcome) == [.failed])
        #expect(alone.stoppedBy == nil)
        #expect(alone.outcome == "failed")
        #expect(alone.exitCode == 2)
        let last = await Self.run(RolloutRunner(plan: try Self.plan(3, canary: 0, maxFail: 0, parallel: 1),
                                                steps: FakeRolloutSteps(["b3": .init(failing: (.push, Self.failure))])))
        #expect(last.boards.map(\.outcome) == [.ok, .ok, .failed])
        #expect(last.exitCode == 2)
    }

    @Test func theCanaryWaitsForTheGoAhead() async throws {
        let asked = EventLog()
        let declined = await Self.run(RolloutRunner(plan: try Self.plan(3), steps: FakeRolloutSteps(), approveCanary: { results in
            asked.add(FleetEvent(run: "", time: "", board: results.map(\.name).joined(), host: "", phase: .done, status: results[0].outcome.rawValue))
            return false
        }))
        #expect(asked.of("b1") == ["done/ok"])
        #expect(declined.boards.map(\.outcome) == [.ok, .notStarted, .notStarted])
        #expect(declined.outcome == "aborted")
        #expect(declined.stoppedBy == "declined")
        #expect(declined.exitCode == 1)

        let approved = await Self.run(RolloutRunner(plan: try Self.plan(3), steps: FakeRolloutSteps(), approveCanary: { _ in true }))
        #expect(approved.boards.map(\.outcome) == [.ok, .ok, .ok])
    }

    @Test func ctrlCStartsNoNewBoardOrPhaseAndTheBoardInFlightFinishesItsPhase() async throws {
        let control = RolloutControl()
        let steps = FakeRolloutSteps(["b3": .init(during: (.push, { control.interrupt() }))])
        let summary = await Self.run(RolloutRunner(plan: try Self.plan(6, canary: 0, parallel: 1), steps: steps, control: control))
        #expect(summary.boards.map(\.outcome) == [.ok, .ok, .failed, .notStarted, .notStarted, .notStarted])
        // b3 finished its push (a transfer is cut only by a second Ctrl-C) but started no launch.
        #expect(steps.calls(of: "b3") == ["open", "inspect", "push", "close"])
        #expect(summary.boards[2].phase == .launch)
        #expect(summary.boards[2].error?.code == "interrupted")
        #expect(summary.outcome == "interrupted")
        #expect(summary.exitCode == 130)
        #expect(!control.cancelsTransfers)
        control.interrupt()
        #expect(control.cancelsTransfers)
    }

    @Test func theJournalLetsAResumeContinueWithoutRedoingFinishedWork() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-journal-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let plan = try Self.plan(4, canary: 0, maxFail: 100, parallel: 1)
        let journal = try RolloutJournal.create(.init(run: "rollout-a", started: "now", inventory: "/x/boards.ini", limit: nil,
                                                      boards: plan.batches.flatMap(\.boards).map(\.name)), root: root)
        let steps = FakeRolloutSteps([
            "b2": .init(failing: (.verify, Self.failure)),
            "b3": .init(openError: SSHError.cannotResolveOrConnect(target: "b3", reason: "no route to host")),
        ])
        let first = await Self.run(RolloutRunner(plan: plan, steps: steps, journal: journal))
        #expect(first.boards.map(\.outcome) == [.ok, .failed, .unreachable, .ok])

        // Read back from disk, as a later `--resume` does.
        let reopened = try RolloutJournal.open(run: "rollout-a", root: root)
        #expect(reopened.header.boards == ["b1", "b2", "b3", "b4"])
        let states = reopened.states()
        #expect(states["b1"]?.outcome == .ok)
        #expect(states["b2"]?.finished == [.push, .launch])
        #expect(states["b2"]?.outcome == .failed)
        #expect(states["b2"]?.error?.code == "push_failed")
        #expect(reopened.boardsToRetry() == ["b2", "b3"])
        let summaryText = try String(contentsOf: reopened.directory.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summaryText.contains("\"schema\":\"tpudeploy.fleet-summary/1\""))

        // The resume: b1 and b4 are not contacted; b2 repeats only verify; b3 is taken from the start.
        let again = FakeRolloutSteps(["b2": .init(needs: [.launch, .verify])])
        var resumed = RolloutRunner(plan: plan, steps: again, journal: reopened)
        resumed.earlier = states
        let second = await Self.run(resumed)
        #expect(second.boards.map(\.outcome) == [.ok, .ok, .ok, .ok])
        #expect(again.calls(of: "b1").isEmpty)
        #expect(again.calls(of: "b4").isEmpty)
        #expect(again.calls(of: "b2") == ["open", "inspect", "verify", "close"])
        #expect(again.calls(of: "b3") == ["open", "inspect", "push", "launch", "verify", "close"])
        #expect(reopened.boardsToRetry().isEmpty)
    }

    @Test func aJournalWithATornLastLineStillReads() {
        let text = """
            {"board":"b1","phase":"push","status":"done","time":"t"}
            {"board":"b1","phase":"done","status":"ok","time":"t"}
            {"board":"b2","phase":"push","status":"do
            """
        let states = RolloutJournal.states(journalText: text)
        #expect(states["b1"] == RolloutJournal.BoardState(finished: [.push], outcome: .ok, error: nil))
        #expect(states["b2"] == nil)
    }

    @Test func aRunThatIsNotThereIsOneLineWithItsCode() {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-none-\(UUID().uuidString.prefix(8))")
        #expect(throws: RolloutJournalError.noSuchRun(run: "rollout-nope", root: root.path)) { try RolloutJournal.open(run: "rollout-nope", root: root) }
        #expect(throws: RolloutJournalError.self) { try RolloutJournal.open(run: "../etc", root: root) }
    }

    @Test func theDryRunPlansAThousandBoards() async throws {
        // 1000 boards: every 10th at the target, every 7th a 12 GB board needing a new layout, one unreachable.
        var scripts: [String: FakeRolloutSteps.Script] = [:]
        for index in 1...1000 {
            if index % 10 == 0 { scripts["b\(index)"] = .init(needs: []) }
            else if index % 7 == 0 { scripts["b\(index)"] = .init(needs: [.fixMemory, .reboot, .push, .launch, .verify]) }
        }
        scripts["b999"] = .init(openError: SSHError.cannotResolveOrConnect(target: "b999", reason: "no route to host"))
        let steps = FakeRolloutSteps(scripts)
        let plan = try Self.plan(1000, batch: "1,5,20%", parallel: 64)
        let inspections = await RolloutRunner(plan: plan, steps: steps).survey(run: "dry") { _ in }
        let dry = RolloutDryRun(run: "dry", plan: plan, inspections: inspections)
        #expect(dry.boards.count == 1000)
        #expect(dry.boards.map(\.name) == plan.batches.flatMap(\.boards).map(\.name))
        #expect(dry.skipped == 100)
        #expect(dry.unreachable == 1)
        #expect(dry.failed == 0)
        #expect(dry.rollingOut == 899)
        #expect(dry.bytesToSend == 899 * 1000)
        #expect(dry.hostBytesToSend == dry.bytesToSend)
        // Relayed, the host sends what the canary lacks (1000 bytes); the canary then heads the later batches'
        // relays, so nothing more comes from the host.
        let relayed = RolloutDryRun(run: "dry", plan: plan, inspections: inspections, relay: true)
        #expect(relayed.relay)
        #expect(relayed.bytesToSend == 899 * 1000)
        #expect(relayed.hostBytesToSend == 1000)
        // A canary at the target seeds at once: the host sends nothing.
        let seededPlan = try Self.plan(20, batch: "1,5,20%", parallel: 8)
        let atTarget = Dictionary(uniqueKeysWithValues: (1...20).map { ("b\($0)", FakeRolloutSteps.Script(needs: $0 == 1 ? [] : [.push, .launch, .verify])) })
        let seeded = RolloutDryRun(run: "dry", plan: seededPlan, inspections: await RolloutRunner(plan: seededPlan, steps: FakeRolloutSteps(atTarget)).survey(run: "dry") { _ in },
                                   relay: true)
        #expect(seeded.bytesToSend == 19 * 1000)
        #expect(seeded.hostBytesToSend == 0)
        let sevens = (1...1000).filter { $0 % 7 == 0 && $0 % 10 != 0 && $0 != 999 }.count
        #expect(dry.layoutChanges == sevens)
        #expect(dry.boards[0].batch == "canary")
        #expect(dry.boards[1].batch == "batch 1")
        #expect(dry.boards.first { $0.name == "b14" }?.layout == "npu 4864 MiB")
        #expect(dry.boards.first { $0.name == "b10" }?.action == "skipped")
        #expect(dry.exitCode == 3)
        // Nothing but a look: no board was taken through a phase.
        #expect(!steps.calls.contains { $0.hasSuffix(":push") || $0.hasSuffix(":fix_memory") })
        #expect(steps.mostInFlight <= 64)
    }
}
