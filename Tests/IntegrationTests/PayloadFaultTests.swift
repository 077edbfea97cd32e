import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Wrong or damaged files on a simulated board: an engine for another machine and a bmodel whose weights do not
/// match their check codes are refused before anything is installed; an engine that cannot start is reported
/// as a crash loop, with its log, and its service is stopped and taken out of the boot sequence.
@Suite("payload faults on simulated boards", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct PayloadFaultTests {
    private func connect(_ board: SimulatedBoard) async throws -> SSHSession {
        try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
    }

    private var pusher: DeploymentPusher {
        DeploymentPusher(profiles: ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles")), passwordProvider: nil, events: nil)
    }

    @Test func anEngineForAnotherMachineOrATextFileIsRefusedBeforeSending() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        // The simulated board runs this host's architecture: the other one of aarch64 / x86-64 is wrong there.
        let otherMachine: UInt16 = PushPayload.hostMachine == 183 ? 62 : 183
        let foreign = payload.directory.appendingPathComponent("tpu-llm-engine-foreign").path
        try LocalFile.write(PushPayload.elfHeader(machine: otherMachine) + PushPayload.random(1 << 20), to: foreign)
        let text = payload.directory.appendingPathComponent("engine.txt").path
        try LocalFile.write(Array("hi\n".utf8), to: text)
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await connect(board)
            let arch = try SimulatedBoardHarness.openSSH(board, "uname -m").trimmingCharacters(in: .whitespacesAndNewlines)
            for (engine, expected) in [(foreign, "is built for"), (text, "is not an engine executable: it is 3 bytes long")] {
                var request = payload.request(remoteDir: "/data/tpudeploy/wrong")
                request.engine = .file(engine)
                await #expect {
                    _ = try await pusher.push(request, session: session)
                } throws: { error in
                    let message = "\(error)"
                    return message.contains(engine) && message.contains(expected)
                        && (expected != "is built for" || message.contains("the board runs \(arch)"))
                }
            }
            // Refused before the board lock or a byte: the directory was not even created.
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy/wrong 2>/dev/null | wc -l").hasPrefix("0"))
            await session.close()
        }
    }

    @Test func aBModelWithAChangedWeightIsRefusedAndNotInstalled() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        // A local edit inside block_0's weights (the embedding is 256 × 4096 × 2 bytes from the blob's start).
        let model = try BModel(contentsOf: payload.bmodel)
        let offset = model.blobOffset + 256 * 4096 * 2 + 4242
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: payload.bmodel))
        try handle.seek(toOffset: offset)
        let byte = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte ^ 0x01]))
        try handle.close()
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await connect(board)
            for attempt in 0..<2 {  // the second push finds the same damage: never "up to date"
                await #expect {
                    _ = try await pusher.push(payload.request(remoteDir: "/data/tpudeploy/damaged"), session: session)
                } throws: { error in
                    guard case PushError.coefficientsDamaged = error else { return false }
                    return "\(error)".contains("the weights of net block_0, block_cache_0") && "\(error)".contains("Nothing was installed")
                }
                let listing = try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy/damaged 2>/dev/null; cat /data/tpudeploy/damaged/.tpudeploy-manifest.json 2>/dev/null; true")
                #expect(!listing.contains("tiny.bmodel"), "attempt \(attempt): \(listing)")
                // The directories the push made for it are gone again: the board is as the push found it.
                #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data").isEmpty, "attempt \(attempt)")
            }
            await session.close()
        }
    }

    @Test func aCrashLoopingEngineIsReportedWithItsLogAndLeftStoppedAndDisabled() async throws {
        // The engine file has this host's ELF header and random bytes after it: the kernel cannot load it, so it
        // exits at once every time the supervisor starts it.
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await connect(board)
            let directory = "/data/tpudeploy/crash"
            _ = try await pusher.push(payload.request(remoteDir: directory), session: session)
            let root = try await RootShell.open(session, passwordProvider: nil)
            let manager = EngineServiceManager(root: root, payloads: PayloadDirectory(directory: repositoryRoot.appendingPathComponent("Payloads")))
            let engine = DeployedEngine(deployment: DeploymentReference(name: "crash", remoteDir: directory, port: 8091, profile: nil),
                                        target: SimulatedBoardHarness.rootTarget(board), passwordProvider: nil)
            let spec = try await engine.launchSpec(session: session)
            _ = try await manager.install(spec)
            #expect(try SimulatedBoardHarness.openSSH(board, "grep -c 'tpudeploy:crash' /etc/rc.local || true").hasPrefix("1"))
            var failure: Error?
            do {
                // The timeout is far beyond the test's limit: only recognising the crash loop ends this wait in time.
                _ = try await engine.withAPI(on: session) { api in
                    try await EngineReadiness(api: api, timeoutSeconds: 3600).wait(
                        fixMemoryCommand: nil, logTail: { (try? await manager.logs(spec, lines: 15)) ?? "" },
                        serviceRestarts: { try? await manager.status(spec).restarts }, onProgress: { _ in })
                }
                Issue.record("an engine that cannot start must not be reported ready")
            } catch {
                failure = error
            }
            let error = try #require(failure)
            guard case ServiceError.crashLoop(let restarts, _, let logTail) = error else {
                Issue.record("expected a crash loop, got \(error)")
                return
            }
            #expect(restarts >= 1)
            #expect(logTail.contains("tpu-llm-supervise: engine exited with status"), "\(logTail)")
            let abandoned = await manager.abandon(spec, after: error)
            #expect("\(abandoned)".contains("The service tpudeploy-crash was stopped and will not start at boot"))
            #expect("\(abandoned)".contains("the engine exited before it answered"))
            #expect(try await manager.status(spec).state == .stopped)
            #expect(try SimulatedBoardHarness.openSSH(board, "grep -c 'tpudeploy:crash' /etc/rc.local || true").hasPrefix("0"))
            await session.close()
        }
    }

    @Test func whereSystemdRunsTheServiceItsJournalComesWithTheLog() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // The simulator runs no systemd. These stand in for what the script reads on a board that does: its
            // runtime directory, the unit, and journalctl with what systemd logs when it cannot exec the engine.
            _ = try SimulatedBoardHarness.openSSH(board, #"""
                mkdir -p /run/systemd/system /etc/systemd/system && : > /etc/systemd/system/tpudeploy-j.service
                printf '%s\n' '#!/bin/sh' 'case " $* " in *" tpudeploy-j.service "*)' \
                  '  echo "tpudeploy-j.service: Failed to execute command: Exec format error"' \
                  '  echo "tpudeploy-j.service: Failed at step EXEC spawning /data/tpudeploy/j/tpu-llm-engine: Exec format error";; esac' \
                  > /usr/local/bin/journalctl && chmod 755 /usr/local/bin/journalctl
                """#)
            let session = try await connect(board)
            let root = try await RootShell.open(session, passwordProvider: nil)
            let manager = EngineServiceManager(root: root, payloads: PayloadDirectory(directory: repositoryRoot.appendingPathComponent("Payloads")))
            let spec = EngineLaunchSpec(name: "j", directory: "/data/tpudeploy/j", commandLine: ["/data/tpudeploy/j/tpu-llm-engine"], port: 8093, user: "root")
            // The engine never ran, so it wrote no log: the journal alone says why.
            let logs = try await manager.logs(spec, lines: 10)
            #expect(logs.contains("-- systemd's journal of tpudeploy-j.service:"), "\(logs)")
            #expect(logs.contains("Failed at step EXEC spawning /data/tpudeploy/j/tpu-llm-engine: Exec format error"), "\(logs)")
            // Another deployment's journal is not this one's: no log, no journal, the error that says so.
            var other = spec
            other.name = "k"
            await #expect { _ = try await manager.logs(other, lines: 10) } throws: { "\($0)".contains("the engine was never launched there") }
            await session.close()
        }
    }

    @Test func launchOnTheCommandLineReportsTheCrashLoopAndSaysTheServiceIsStopped() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let config = payload.directory.appendingPathComponent("tpudeploy.yaml")
            try """
                target:
                  host: \(board.host)
                  user: root
                  identity: \(board.identityFile)
                  known_hosts: \(board.knownHostsFile)
                  board: 1684x_evb
                deployment:
                  name: crash
                  remote_dir: /data/tpudeploy/crash
                  bmodel: \(payload.bmodel)
                  tokenizer: \(payload.tokenizer)
                  engine: \(payload.engine)
                  port: 8092

                """.write(to: config, atomically: true, encoding: .utf8)
            let story = DeploymentStoryTests()
            let pushed = try story.tpudeploy(["push", "--json"], in: payload.directory)
            try #require(pushed.status == 0, "\(pushed.stdout) \(pushed.stderr)")
            // --timeout far beyond the test's limit: only the crash-loop check ends the wait in time.
            let launched = try story.tpudeploy(["launch", "--timeout", "3600"], in: payload.directory)
            #expect(launched.status != 0)
            #expect(launched.stderr.contains("the engine exited before it answered"), "\(launched.stderr)")
            #expect(launched.stderr.contains("tpu-llm-supervise: engine exited with status"), "\(launched.stderr)")
            #expect(launched.stderr.contains("The service tpudeploy-crash was stopped and will not start at boot"), "\(launched.stderr)")
            let status = try story.tpudeploy(["status", "--json"], in: payload.directory)
            #expect(status.stdout.contains("\"stopped\""), "\(status.stdout)")
            #expect(try SimulatedBoardHarness.openSSH(board, "grep -c 'tpudeploy:crash' /etc/rc.local || true").hasPrefix("0"))
        }
    }
}
