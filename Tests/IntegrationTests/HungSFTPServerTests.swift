import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))

private let stallSeconds = SimulatedBoardHarness.shortStallSeconds
private let target = SimulatedBoardHarness.rootTargetWithShortStall

/// Stops (SIGSTOP) or continues the SFTP servers of one simulated board: `pkill` runs on the board, in its own
/// PID namespace, so it sees that board's processes only, never another board's or the host's.
private func signalSFTPServers(_ board: SimulatedBoard, _ signal: String) throws -> String {
    try SimulatedBoardHarness.openSSH(board, "pkill -\(signal) -x sftp-server && echo signalled || echo none")
}

/// An SFTP server that hangs while the board and its TCP connection stay up: the kernel still acknowledges data
/// and keepalives, so neither TCP_USER_TIMEOUT nor keepalive probes ever fire. Only the stall limit of the
/// upload's own waits can end it, with one coded error and nothing installed.
@Suite("hung SFTP servers on simulated boards", .serialized, .hangGuard, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct HungSFTPServerTests {
    @Test func aWriteToAStoppedServerEndsAtTheStallLimit() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: target(board))
            let stopped = StopOnce(board)
            let bytes = [UInt8](repeating: 0x5A, count: 3 << 20)
            await #expect {
                try await session.withConnection { connection in
                    try connection.writeFile("/data/hung-upload.bin", bytes) { _, _ in stopped.fire() }
                }
            } throws: { error in
                guard case SSHError.linkStalled(_, let seconds) = error else { return false }
                return seconds >= stallSeconds && "\(error)".contains("nothing came back from the board for")
            }
            #expect(stopped.answer?.hasPrefix("signalled") == true, "the board's sftp-server was stopped: \(stopped.answer ?? "never")")
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
        }
    }

    @Test func aPushToAStoppedServerEndsAtTheStallLimitAndTheNextPushResumes() async throws {
        let payload = try PushPayload(bigMiB: 64)
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let stopped = StopOnce(board)
            let stopping = DeploymentPusher(profiles: profiles, passwordProvider: nil) { event in
                if case .progress(let name, let done, let size, _, _) = event, name == "weights-extra.bin", done * 3 >= size {
                    stopped.fire()
                }
            }
            let request = payload.request(remoteDir: "/data/tpudeploy/tiny", support: [payload.big])
            let session = try await SSHSession.connect(to: target(board))
            await #expect {
                _ = try await stopping.push(request, session: session)
            } throws: { error in
                guard case UploadError.linkStalled(_, _, _, let seconds) = error else { return false }
                return seconds >= stallSeconds && "\(error)".contains("nothing came back from the board for")
            }
            #expect(stopped.answer?.hasPrefix("signalled") == true, "the board's sftp-server was stopped: \(stopped.answer ?? "never")")
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/tpudeploy/tiny/weights-extra.bin && echo yes || echo no").hasPrefix("no"))

            let fresh = try await SSHSession.connect(to: target(board))
            let result = try await DeploymentPusher(profiles: profiles, passwordProvider: nil, events: nil).push(request, session: fresh)
            await fresh.close()
            let big = try #require(result.files.first { $0.name == "weights-extra.bin" })
            #expect(big.action == .resumed)
        }
    }

    @Test func fixMemoryOnAStoppedServerEndsAtTheStallLimitAndLeavesTheImageAlone() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let factorySHA = try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -c1-64")
            let stopped = StopOnce(board)
            var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: { _ in nil }, events: nil)
            fixer.events = { event in
                if case .transfer(let what, _, _) = event, what.hasPrefix("uploading") { stopped.fire() }
            }
            let session = try await SSHSession.connect(to: target(board))
            let prepared = try await fixer.prepare(session, board: nil, choice: .preset("llm"))
            await #expect {
                _ = try await fixer.apply(prepared, session: session, reboot: false)
            } throws: { error in
                guard case MemoryFixError.uploadInterrupted = error else { return false }
                let text = "\(error)"
                return text.contains("nothing came back from the board for") && text.contains("was not changed")
            }
            #expect(stopped.answer?.hasPrefix("signalled") == true, "the board's sftp-server was stopped: \(stopped.answer ?? "never")")
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
            #expect(try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -c1-64") == factorySHA)
            // Nothing half-written is left where the new image is staged.
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -a /boot").contains(".emmcboot.itb.tpudeploy-new") == false)
        }
    }

    @Test func aReadFromAStoppedServerEndsAtTheStallLimit() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // Larger than the read's window of requests in flight, so that the stop lands in the middle.
            _ = try SimulatedBoardHarness.openSSH(board, "dd if=/dev/urandom of=/data/hung-read.bin bs=1M count=48 2>/dev/null; echo made")
            let session = try await SSHSession.connect(to: target(board))
            let stopped = StopOnce(board)
            let guardian = ContinueLater(board)
            await #expect {
                try await session.withConnection { connection in
                    _ = try connection.readFile("/data/hung-read.bin") { _, _ in stopped.fire() }
                }
            } throws: { error in
                guard case SSHError.linkStalled(_, let seconds) = error else { return false }
                return seconds >= stallSeconds && "\(error)".contains("nothing came back from the board for")
            }
            guardian.cancel()
            #expect(stopped.answer?.hasPrefix("signalled") == true, "the board's sftp-server was stopped: \(stopped.answer ?? "never")")
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
        }
    }

    @Test func aBlockReadFromAStoppedServerEndsAtTheStallLimit() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: target(board))
            let guardian = ContinueLater(board)
            await #expect {
                try await session.withConnection { connection in
                    let reader = try SFTPFileReader(connection: connection, path: "/boot/emmcboot.itb")
                    _ = try reader.bytes(at: 0, count: 64)
                    // The reader's own sftp-server is open now: stopped, the next block never comes.
                    #expect(try signalSFTPServers(board, "STOP").hasPrefix("signalled"))
                    _ = try reader.bytes(at: reader.count - 64, count: 64)
                }
            } throws: { error in
                guard case SSHError.linkStalled(_, let seconds) = error else { return false }
                return seconds >= stallSeconds
            }
            guardian.cancel()
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
        }
    }

    @Test func fixMemoryReadingFromAStoppedServerEndsAtTheStallLimitAndLeavesTheImageAlone() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let factorySHA = try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -c1-64")
            let stopped = StopOnce(board)
            let guardian = ContinueLater(board)
            var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: { _ in nil }, events: nil)
            fixer.events = { event in
                if case .transfer(let what, _, _) = event, what.hasPrefix("reading") { stopped.fire() }
            }
            let session = try await SSHSession.connect(to: target(board))
            await #expect {
                // The read of the boot image is in prepare; were it to end without the error, apply would go on.
                let prepared = try await fixer.prepare(session, board: nil, choice: .preset("llm"))
                _ = try await fixer.apply(prepared, session: session, reboot: false)
            } throws: { error in
                guard case SSHError.linkStalled(_, let seconds) = error else { return false }
                return seconds >= stallSeconds && (error as? CodedError)?.errorCode == "link_stalled"
            }
            guardian.cancel()
            #expect(stopped.answer?.hasPrefix("signalled") == true, "the board's sftp-server was stopped: \(stopped.answer ?? "never")")
            _ = try signalSFTPServers(board, "CONT")
            await session.close()
            #expect(try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -c1-64") == factorySHA)
        }
    }
}

/// Keeps a hang from blocking the suite: unless cancelled first, continues the board's SFTP servers long after
/// any stall limit would have ended the wait, so that a read that never gives up finishes (and its test fails
/// for want of the error) instead of waiting forever.
private final class ContinueLater: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    init(_ board: SimulatedBoard, after seconds: Double = Double(stallSeconds * 15)) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            guard !lock.withLock({ cancelled }) else { return }
            _ = try? signalSFTPServers(board, "CONT")
        }
    }

    func cancel() { lock.withLock { cancelled = true } }
}

/// Stops the board's SFTP servers the first time it fires (from the upload's progress callback) and keeps what
/// the board answered.
private final class StopOnce: @unchecked Sendable {
    private let board: SimulatedBoard
    private let lock = NSLock()
    private var fired = false
    private var stored: String?

    init(_ board: SimulatedBoard) { self.board = board }

    var answer: String? { lock.withLock { stored } }

    func fire() {
        let first = lock.withLock { () -> Bool in
            defer { fired = true }
            return !fired
        }
        guard first else { return }
        let result = (try? signalSFTPServers(board, "STOP")) ?? "pkill failed"
        lock.withLock { stored = result }
    }
}
