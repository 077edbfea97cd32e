import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let simModel = repositoryRoot.appendingPathComponent("build/sim-models/llama2-sim")

/// The events a board's steps reported, in order.
private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [BoardEvent] = []

    var record: BoardEvents { { event in self.lock.withLock { self.events.append(event) } } }
    var all: [BoardEvent] { lock.withLock { events } }
}

/// The library's engine steps as a fleet rollout calls them: one `BoardContext`, one SSH session, launch →
/// verify → status → logs → stop, each reporting typed events under the board's name; failures carry codes.
@Suite("engine steps on one board context", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct EngineStepsTests {
    /// A project file for `board` as root, deploying `deployment`.
    private func project(_ board: SimulatedBoard, in directory: URL, deployment: String) throws {
        try """
            target:
              host: \(board.host)
              user: root
              identity: \(board.identityFile)
              known_hosts: \(board.knownHostsFile)
              board: 1684x_evb

            """.appending(deployment).write(to: directory.appendingPathComponent("tpudeploy.yaml"), atomically: true, encoding: .utf8)
    }

    @Test func launchVerifyStatusLogsAndStopOnOneSession() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-steps-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try project(board, in: directory, deployment: """
                deployment:
                  name: llama2-sim
                  model: llama2-sim
                  bmodel: \(simModel.appendingPathComponent("llama2-sim.bmodel").path)
                  tokenizer: \(simModel.appendingPathComponent("tokenizer.model").path)

                """)
            let story = DeploymentStoryTests()
            let fixed = try story.tpudeploy(["fix-memory", "--for-model", "llama2-sim", "--yes"], in: directory)
            try #require(fixed.status == 0, "\(fixed.stderr)")
            let pushed = try story.tpudeploy(["push"], in: directory)
            try #require(pushed.status == 0, "\(pushed.stderr)")

            let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))
            let deployment = DeploymentReference(name: "llama2-sim", remoteDir: "/data/tpudeploy/llama2-sim", port: 8080,
                                                 profile: try profiles.model(named: "llama2-sim"))
            let log = EventLog()
            let context = try await BoardContext.connect(
                name: "evb-1", to: SimulatedBoardHarness.rootTarget(board), boardProfile: "1684x_evb", deployment: deployment,
                payloads: PayloadDirectory(directory: repositoryRoot.appendingPathComponent("Payloads")), events: log.record)
            var manager = ""
            do {
                let launched = try await EngineLauncher(timeoutSeconds: 120).launch(context)
                manager = launched.manager
                #expect(launched.health.status == .ready)
                #expect(launched.health.family == "llama2")
                #expect(["systemd", "supervisor"].contains(launched.manager))

                let verified = try await EngineVerifier(prompt: "Hello there", maxTokens: 16).verify(context)
                #expect(verified.ok, "\(verified.problem ?? "")")
                #expect(!verified.reply.text.isEmpty)
                #expect((verified.npuMemoryUsedBytes ?? 0) >= 4608 << 20)
                try verified.requireOK()

                let running = try await EngineStatusCheck().check(context)
                #expect(running.isReady)
                #expect(running.service.state == .running)

                let engineLog = try await EngineLogReader(lines: 5).read(context)
                #expect(!engineLog.lines.isEmpty)
                #expect(engineLog.logFile == "/data/tpudeploy/llama2-sim/log/engine.log")

                let stopped = try await EngineStopper().stop(context)
                #expect(stopped.state == .stopped)
                let after = try await EngineStatusCheck().check(context)
                #expect(!after.isReady)
                #expect(after.service.state == .stopped)
                #expect(after.health == nil)
            } catch {
                await context.session.close()
                throw error
            }
            await context.session.close()

            let events = log.all
            #expect(events.allSatisfy { $0.board == "evb-1" })
            // Waiting events come and go with the machine's speed: the steps' landmarks, in order.
            let landmarks = events.filter { if case .engineWaiting = $0.detail { return false } else { return true } }
            #expect(landmarks == [
                BoardEvent(board: "evb-1", phase: .connect, detail: .started),
                BoardEvent(board: "evb-1", phase: .connect, detail: .finished),
                BoardEvent(board: "evb-1", phase: .launch, detail: .started),
                BoardEvent(board: "evb-1", phase: .launch, detail: .serviceStarted(manager: manager)),
                BoardEvent(board: "evb-1", phase: .launch, detail: .finished),
                BoardEvent(board: "evb-1", phase: .verify, detail: .started),
                BoardEvent(board: "evb-1", phase: .verify, detail: .finished),
            ], "\(events)")
        }
    }

    @Test func aCrashingEngineFailsTheLaunchWithTheCrashLoopsCode() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            try project(board, in: payload.directory, deployment: """
                deployment:
                  name: crash
                  remote_dir: /data/tpudeploy/crash
                  bmodel: \(payload.bmodel)
                  tokenizer: \(payload.tokenizer)
                  engine: \(payload.engine)
                  port: 8093

                """)
            let pushed = try DeploymentStoryTests().tpudeploy(["push"], in: payload.directory)
            try #require(pushed.status == 0, "\(pushed.stderr)")

            let log = EventLog()
            let context = try await BoardContext.connect(
                name: "evb-crash", to: SimulatedBoardHarness.rootTarget(board),
                deployment: DeploymentReference(name: "crash", remoteDir: "/data/tpudeploy/crash", port: 8093, profile: nil),
                payloads: PayloadDirectory(directory: repositoryRoot.appendingPathComponent("Payloads")), events: log.record)
            var failure: Error?
            do {
                // A timeout far beyond the test's: only the crash-loop check ends the wait in time.
                _ = try await EngineLauncher(timeoutSeconds: 3600).launch(context)
            } catch {
                failure = error
            }
            let service = try await EngineStatusCheck().check(context).service
            await context.session.close()

            let error = try #require(failure)
            #expect(ErrorCode.of(error) == "engine_crash_loop", "\(error)")
            let (outcome, reported) = FleetBoardError.classify(error, in: .launch)
            #expect(outcome == .failed)
            #expect(reported.code == "engine_crash_loop")
            #expect(reported.message.contains("The service tpudeploy-crash was stopped"))
            #expect(service.state == .stopped)
            #expect(!log.all.contains(BoardEvent(board: "evb-crash", phase: .launch, detail: .finished)))
            #expect(log.all.contains(BoardEvent(board: "evb-crash", phase: .launch, detail: .started)))
        }
    }
}
