import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))

private let stallSeconds = SimulatedBoardHarness.shortStallSeconds
private let target = SimulatedBoardHarness.rootTargetWithShortStall

private func boardSHA(_ board: SimulatedBoard, _ path: String) throws -> String {
    try SimulatedBoardHarness.openSSH(board, "sha256sum \(path) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Plugs the cable back in when the test ends, whatever happened, so that teardown can reach the board.
private func restoring<T>(_ simulator: Simulator, _ board: SimulatedBoard, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        try? simulator.restoreLink(of: board.name)
        return result
    } catch {
        try? simulator.restoreLink(of: board.name)
        throw error
    }
}

/// A cable pulled mid-transfer resets nothing: only silence tells. Every wait must end at the stall limit with
/// one error that says the link was lost and for how long, and the work must resume once the cable is back.
@Suite("dead links on simulated boards", .serialized, .hangGuard, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct LinkFaultTests {
    @Test func theSimulatorCutsAndRestoresABoardsCable() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            #expect(try simulator.linkIsUp(of: board.name))
            try simulator.cutLink(of: board.name)
            #expect(try simulator.linkIsUp(of: board.name) == false)
            // Nothing answers, and nothing refuses either: the connection attempt times out.
            let ssh = ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
                       "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-F", "/dev/null", "root@\(board.host)", "echo back"]
            #expect(throws: HarnessError.self) { try SimulatedBoardHarness.run("/usr/bin/ssh", ssh) }
            try simulator.restoreLink(of: board.name)
            #expect(try SimulatedBoardHarness.run("/usr/bin/ssh", ssh).hasPrefix("back"))
        }
    }

    @Test func aCutCableEndsThePushAtTheStallLimitAndTheNextPushResumes() async throws {
        let payload = try PushPayload(bigMiB: 64)
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            // A 100 Mbit/s port, so that the cut lands in the middle of the big file.
            try simulator.shapeLink(of: board.name, rateMbit: 100)
            let cut = FireOnce()
            let cutting = DeploymentPusher(profiles: profiles, passwordProvider: nil) { event in
                if case .progress(let name, let done, let size, _, _) = event, name == "weights-extra.bin", done * 3 >= size, cut.first() {
                    try? simulator.cutLink(of: board.name)
                }
            }
            let request = payload.request(remoteDir: "/data/tpudeploy/tiny", support: [payload.big])
            try await restoring(simulator, board) {
                let session = try await SSHSession.connect(to: target(board))
                await #expect {
                    _ = try await cutting.push(request, session: session)
                } throws: { error in
                    guard case UploadError.linkStalled(_, _, _, let seconds) = error else { return false }
                    let text = "\(error)"
                    return seconds >= stallSeconds && text.contains("link to") && text.contains("nothing came back from the board for")
                        && text.contains("resumes")
                }
                await session.close()
            }
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/tpudeploy/tiny/weights-extra.bin && echo yes || echo no").hasPrefix("no"))

            try simulator.shapeLink(of: board.name, rateMbit: nil)
            let fresh = try await SSHSession.connect(to: target(board))
            let result = try await DeploymentPusher(profiles: profiles, passwordProvider: nil, events: nil).push(request, session: fresh)
            await fresh.close()
            let big = try #require(result.files.first { $0.name == "weights-extra.bin" })
            #expect(big.action == .resumed)
            #expect(big.resumedFromBytes > 0)
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/weights-extra.bin") == LocalFileHash.sha256(payload.big))
        }
    }

    @Test func aCutCableEndsTheBootImageUploadAndLeavesTheImageAlone() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            let factorySHA = try boardSHA(board, "/boot/emmcboot.itb")
            let cut = FireOnce()
            var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: { _ in nil }, events: nil)
            fixer.rebootTimeout = 300   // a limit for a hang: on two loaded cores a simulated reboot can take minutes
            fixer.events = { event in
                if case .transfer(let what, let done, let total) = event, what.hasPrefix("uploading"), done * 3 >= total, cut.first() {
                    try? simulator.cutLink(of: board.name)
                }
            }
            try await restoring(simulator, board) {
                let session = try await SSHSession.connect(to: target(board))
                let prepared = try await fixer.prepare(session, board: nil, choice: .preset("llm"))
                await #expect {
                    _ = try await fixer.apply(prepared, session: session, reboot: true)
                } throws: { error in
                    guard case MemoryFixError.uploadInterrupted = error else { return false }
                    let text = "\(error)"
                    return text.contains("link to") && text.contains("nothing came back from the board for") && text.contains("was not changed")
                }
                await session.close()
            }
            #expect(try boardSHA(board, "/boot/emmcboot.itb") == factorySHA)
        }
    }

    @Test func inspectOnADeadLinkEndsAtTheStallLimit() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            try await restoring(simulator, board) {
                let session = try await SSHSession.connect(to: target(board))
                try simulator.cutLink(of: board.name)
                await #expect {
                    _ = try await BoardInspector(profiles: profiles, passwordProvider: nil).inspect(session)
                } throws: { error in
                    guard case SSHError.linkStalled(_, let seconds) = error else { return false }
                    return seconds >= stallSeconds && "\(error)".contains("nothing came back from the board for")
                }
                // The session is given up: a later command fails at once instead of waiting again.
                await #expect(throws: SSHError.self) { _ = try await session.run("true", timeout: 30) }
                await session.close()
            }
        }
    }

    @Test func anIdlePortForwardNoticesItsLinkDied() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            try await restoring(simulator, board) {
                let forward = try await PortForward.start(target: target(board), remotePort: 8080)
                defer { forward.stop() }
                try simulator.cutLink(of: board.name)
                // Bounded only so that a forward that never notices fails the test instead of hanging it.
                var failure: String?
                for _ in 0..<(stallSeconds * 10 + 200) where failure == nil {
                    try await Task.sleep(nanoseconds: 100_000_000)
                    failure = forward.failure
                }
                #expect(failure?.contains("nothing came back from the board for") == true, "\(failure ?? "no failure")")
            }
        }
    }

    @Test func aCommandWaitingForItsOutputEndsAtTheStallLimit() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0], simulator = harness.simulator
            try await restoring(simulator, board) {
                let session = try await SSHSession.connect(to: target(board))
                let cut = Task {
                    try await Task.sleep(nanoseconds: 500_000_000)
                    try simulator.cutLink(of: board.name)
                }
                // The command prints nothing for long: only the kernel's side of the limit can tell the link died.
                await #expect {
                    _ = try await session.run("sleep 600", timeout: nil)
                } throws: { error in
                    guard case SSHError.linkStalled = error else { return false }
                    return true
                }
                try await cut.value
                await session.close()
            }
        }
    }
}
