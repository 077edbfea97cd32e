import Foundation

/// Inspects many boards at once with the single-board `BoardInspector`: at most `parallel` boards in flight
/// (each SSH session works on its own queue, so no thread waits for an idle board), every board's failure
/// kept as that board's outcome, events reported as they happen.
public struct FleetInspector: Sendable {
    public var inspector: BoardInspector
    public var parallel: Int
    /// Resolved once before the run: nothing is asked for while boards are in flight.
    public var passwordProvider: PasswordProvider?

    public init(inspector: BoardInspector, parallel: Int = 16, passwordProvider: PasswordProvider? = nil) {
        self.inspector = inspector
        self.parallel = max(1, parallel)
        self.passwordProvider = passwordProvider
    }

    /// Inspects `boards` and returns the summary in the boards' order. `onEvent` is called for each
    /// event, one call at a time.
    public func run(_ boards: [FleetBoard], run: String, onEvent: @escaping @Sendable (FleetEvent) -> Void) async -> FleetSummary {
        let started = ContinuousClock.now
        let sink = SerialEventSink(onEvent)
        let results = await withTaskGroup(of: (Int, FleetBoardResult).self) { group in
            var results: [Int: FleetBoardResult] = [:]
            var pending = boards.enumerated().makeIterator()
            func startNext() {
                guard let (index, board) = pending.next() else { return }
                group.addTask { (index, await inspect(board, run: run, sink: sink)) }
            }
            for _ in 0..<parallel { startNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                startNext()
            }
            return results
        }
        let seconds = Self.seconds(since: started)
        return FleetSummary(run: run, command: "inspect", boards: boards.indices.compactMap { results[$0] }, seconds: seconds)
    }

    private func inspect(_ board: FleetBoard, run: String, sink: SerialEventSink) async -> FleetBoardResult {
        let started = ContinuousClock.now
        var phase = FleetPhase.connect
        func event(_ status: String, error: FleetBoardError? = nil, facts: FleetBoardFacts? = nil, report: BoardReport? = nil, mismatch: String? = nil) {
            sink.send(FleetEvent(
                run: run, time: FleetJSONLines.timestamp(), board: board.name, host: board.target.host, phase: phase, status: status,
                error: error, seconds: status == "started" ? nil : Self.seconds(since: started), facts: facts, report: report, profileMismatch: mismatch))
        }
        event("started")
        do {
            let session = try await SSHSession.connect(to: board.target, passwordProvider: passwordProvider)
            phase = .inspect
            event("started")
            let report: BoardReport
            var deployed: FleetBoardFacts.DeployedFiles?
            do {
                report = try await inspector.inspect(session)
                deployed = try await Self.deployedFiles(board, session: session)
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            phase = .done
            var facts = FleetBoardFacts(report)
            facts.deployed = deployed
            var mismatch: String?
            if let wanted = board.boardProfile, let actual = report.board, wanted != actual {
                mismatch = "the inventory says tpudeploy_board=\(wanted), but the board boots \(report.dtb ?? "?"), a dtb of \(actual)"
            }
            event(FleetBoardOutcome.ok.rawValue, facts: facts, report: report, mismatch: mismatch)
            return FleetBoardResult(name: board.name, host: board.target.host, outcome: .ok, phase: .done, error: nil,
                                    seconds: Self.seconds(since: started), facts: facts)
        } catch {
            let (outcome, info) = FleetBoardError.classify(error)
            let failedPhase = phase
            phase = .done
            sink.send(FleetEvent(run: run, time: FleetJSONLines.timestamp(), board: board.name, host: board.target.host, phase: failedPhase,
                                 status: outcome.rawValue, error: info, seconds: Self.seconds(since: started)))
            return FleetBoardResult(name: board.name, host: board.target.host, outcome: outcome, phase: failedPhase, error: info,
                                    seconds: Self.seconds(since: started), facts: nil)
        }
    }

    /// The board's deployment manifest and the engine serving from its directory with what its `/health` says:
    /// one more round trip (the board asks its own engine, at most 5 s), only for a board with a deployment named.
    static func deployedFiles(_ board: FleetBoard, session: SSHSession) async throws -> FleetBoardFacts.DeployedFiles? {
        guard let deployment = board.deployment, let directory = board.deploymentDirectory else { return nil }
        let script = try BoardScript.named("fleet-engine-state.sh")
        let output = try await session.run(script.commandLine([directory]), timeout: 30)
        let probe = FleetDeploymentProbe(output.stdoutText)
        var deployed = FleetBoardFacts.DeployedFiles(deployment: deployment, directory: directory, manifest: probe.manifest)
        deployed.engine = probe.engine
        return deployed
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        let value = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (value * 1000).rounded() / 1000
    }
}

/// Hands events to the caller one at a time, whichever board's task sends them.
private final class SerialEventSink: @unchecked Sendable {
    private let lock = NSLock()
    private let deliver: @Sendable (FleetEvent) -> Void

    init(_ deliver: @escaping @Sendable (FleetEvent) -> Void) { self.deliver = deliver }

    func send(_ event: FleetEvent) { lock.withLock { deliver(event) } }
}
