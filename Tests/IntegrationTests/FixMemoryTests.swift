import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))
private let mebibyte: UInt64 = 1 << 20

private func fixer(password: String? = nil) -> BoardMemoryFixer {
    var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: { _ in password }, events: nil)
    fixer.rebootTimeout = 300   // a limit for a hang: on two loaded cores a simulated reboot can take minutes
    return fixer
}

private func liveHeaps(_ harness: SimulatedBoardHarness, _ board: SimulatedBoard) throws -> [String: UInt64] {
    try harness.simulator.liveHeaps(of: board.name)
}

private func bootImageSHA(_ board: SimulatedBoard) throws -> String {
    try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Plans the `llm` preset as root and expects applying it to throw an error `matches` accepts.
private func expectApplyRefused(_ board: SimulatedBoard, reboot: Bool, matches: @escaping @Sendable (any Error) -> Bool,
                                sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
    let prepared = try await fixer().prepare(session, board: nil, choice: .preset("llm"))
    await #expect(sourceLocation: sourceLocation) {
        _ = try await fixer().apply(prepared, session: session, reboot: reboot)
    } throws: { matches($0) }
    await session.close()
}

@Suite("fix-memory on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FixMemoryIntegrationTests {
    @Test func makesRoomForAModelRebootsAndInspectShowsTheNewHeaps() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let model = try profiles.model(named: "chatglm2-6b")
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let prepared = try await fixer().prepare(session, board: "1684x_evb", choice: .model(model))
            #expect(prepared.edit.plan.after.heap(.npu)?.size == (6453 + 256) * mebibyte)
            let (result, fresh) = try await fixer().apply(prepared, session: session, reboot: true)
            await fresh.close()
            #expect(result.status == .applied)
            #expect(result.liveHeapsAfter?["npu"] == (6453 + 256) * mebibyte)
            // The simulator's own boot (dumpimage, hash checks, fdtget) agrees, independently of our code.
            #expect(try liveHeaps(harness, board)["npu"] == (6453 + 256) * mebibyte)
            // The backups hold the factory image.
            let factory = try SimulatedBoardHarness.openSSH(board, "sha256sum \(result.bootBackup ?? "/none") \(result.dataBackup ?? "/none") | cut -d' ' -f1 | sort -u | wc -l")
            #expect(factory.trimmingCharacters(in: .whitespacesAndNewlines) == "1")

            let inspect = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let report = try await BoardInspector(profiles: profiles, model: model).inspect(inspect)
            await inspect.close()
            #expect(report.diagnosis?.verdict == .fits)
            #expect(report.rebootPending == false)

            // Asking again changes nothing.
            let again = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let preparedAgain = try await fixer().prepare(again, board: nil, choice: .model(model))
            let (second, last) = try await fixer().apply(preparedAgain, session: again, reboot: true)
            await last.close()
            #expect(second.status == .alreadyApplied)
        }
    }

    @Test func rollbackRestoresTheFactoryLayout() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factorySHA = try bootImageSHA(board)
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let prepared = try await fixer().prepare(session, board: nil, choice: .sizes(HeapSizes(npu: .mebibytes(6000), vpu: .mebibytes(0), vpp: .mebibytes(1024))))
            let (_, rebooted) = try await fixer().apply(prepared, session: session, reboot: true)
            #expect(try liveHeaps(harness, board)["vpu"] == nil)
            let (rolledBack, fresh) = try await fixer().rollback(rebooted, reboot: true)
            await fresh.close()
            #expect(rolledBack.status == .rolledBack)
            #expect(try liveHeaps(harness, board) == ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 3 << 30])
            #expect(try bootImageSHA(board) == factorySHA)

            // Rolling back again does not redo the edit: there is nothing more to undo.
            let again = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            await #expect {
                _ = try await fixer().rollback(again, reboot: true)
            } throws: { error in
                guard case MemoryFixError.noBackup = error else { return false }
                return "\(error)".contains("nothing to roll back")
            }
            await again.close()
            #expect(try bootImageSHA(board) == factorySHA)
        }
    }

    @Test func aDroppedConnectionDuringUploadLeavesTheOldImageAndABootableBoard() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factorySHA = try bootImageSHA(board)
            let simulator = harness.simulator
            let dropped = FireOnce()
            var cutting = fixer()
            cutting.events = { event in
                if case .transfer(let what, let done, let total) = event, what.hasPrefix("uploading"), done * 2 >= total, dropped.first() {
                    _ = try? simulator.dropConnections(of: board.name)
                }
            }
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let prepared = try await cutting.prepare(session, board: nil, choice: .preset("llm"))
            await #expect {
                _ = try await cutting.apply(prepared, session: session, reboot: true)
            } throws: { error in
                guard case MemoryFixError.uploadInterrupted = error else { return false }
                return "\(error)".contains("was not changed")
            }
            #expect(try bootImageSHA(board) == factorySHA)
            try harness.simulator.reboot(board.name)
            try harness.simulator.waitUntilUp(board.name, timeout: 300)
            #expect(try liveHeaps(harness, board)["npu"] == 0xF6E0_0000)
        }
    }

    @Test func aFullBootPartitionIsRefusedBeforeAnythingChanges() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factorySHA = try bootImageSHA(board)
            // Fill /boot so that the new image and a backup no longer fit.
            _ = try SimulatedBoardHarness.openSSH(board, "free=$(df -Pk /boot | awk 'NR==2 {print $4}'); dd if=/dev/zero of=/boot/filler bs=1024 count=$((free - 256)) 2>/dev/null; sync")
            try await expectApplyRefused(board, reboot: true) { error in
                guard case MemoryFixError.bootTooFull = error else { return false }
                return "\(error)".contains("Nothing was changed")
            }
            #expect(try bootImageSHA(board) == factorySHA)
            let listing = try SimulatedBoardHarness.openSSH(board, "ls -a /boot")
            #expect(!listing.contains("tpudeploy"))
        }
    }

    @Test func linaroWorksThroughSudoWithItsPassword() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", knownHostsFile: board.knownHostsFile, sshConfigFile: "none")
            let linaro = fixer(password: board.linaroPassword)
            let session = try await SSHSession.connect(to: target, passwordProvider: { _ in board.linaroPassword })
            let prepared = try await linaro.prepare(session, board: nil, choice: .preset("llm"))
            let (result, fresh) = try await linaro.apply(prepared, session: session, reboot: true)
            await fresh.close()
            #expect(result.status == .applied)
            #expect(try liveHeaps(harness, board)["npu"] == 7168 * mebibyte)
        }
    }

    @Test func noRebootLeavesTheLayoutPending() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let prepared = try await fixer().prepare(session, board: nil, choice: .preset("llm"))
            let (result, same) = try await fixer().apply(prepared, session: session, reboot: false)
            #expect(result.status == .rebootPending)
            let report = try await BoardInspector(profiles: profiles).inspect(same)
            await same.close()
            #expect(report.rebootPending == true)
            #expect(try liveHeaps(harness, board)["npu"] == 0xF6E0_0000)
        }
    }

    @Test func aSecondRunIsRefusedWhileOneChangesTheBootImage() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factorySHA = try bootImageSHA(board)
            // Another run (as root) holds the boot image's lock; this one logs in as linaro, through sudo.
            let other = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            _ = try await other.take(.bootImage(command: "fix-memory"), protecting: "the boot image")
            let target = SSHTarget(host: board.host, port: board.port, user: "linaro", knownHostsFile: board.knownHostsFile, sshConfigFile: "none")
            let linaro = fixer(password: board.linaroPassword)
            let session = try await SSHSession.connect(to: target, passwordProvider: { _ in board.linaroPassword })
            // Planning (what --dry-run does) reads only, and is not held up.
            let prepared = try await linaro.prepare(session, board: nil, choice: .preset("llm"))
            await #expect {
                _ = try await linaro.apply(prepared, session: session, reboot: false)
            } throws: { error in
                guard let busy = error as? BoardBusyError else { return false }
                return busy.what == "the boot image" && "\(busy)".contains("Nothing was changed")
            }
            await #expect {
                _ = try await linaro.rollback(session, reboot: false)
            } throws: { $0 is BoardBusyError }
            #expect(try bootImageSHA(board) == factorySHA)
            await other.close()

            let (result, same) = try await linaro.apply(prepared, session: session, reboot: false)
            await same.close()
            #expect(result.status == .rebootPending)
            #expect(try bootImageSHA(board) != factorySHA)
            #expect(try liveHeaps(harness, board)["npu"] == 0xF6E0_0000)
        }
    }

    @Test func anUploadTheBoardRefusesIsReportedAsRefusedNotInterrupted() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let factorySHA = try bootImageSHA(board)
            // Something the board will not let SFTP open for writing where the new image is staged.
            _ = try SimulatedBoardHarness.openSSH(board, "mkdir /boot/.emmcboot.itb.tpudeploy-new")
            try await expectApplyRefused(board, reboot: false) { error in
                guard case MemoryFixError.uploadRefused(let path, _) = error else { return false }
                return path == "/boot/.emmcboot.itb.tpudeploy-new" && "\(error)".contains("was not changed")
            }
            #expect(try bootImageSHA(board) == factorySHA)
        }
    }

    @Test func theLockOutlastsTheRebootsSync() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let rebooting = HighestCount()
            var watched = BoardMemoryFixer(profiles: profiles, passwordProvider: nil, events: { event in
                if case .step(let text) = event, text.hasPrefix("rebooting") { rebooting.note(1) }
            })
            watched.rebootTimeout = 300   // a limit for a hang: on two loaded cores a simulated reboot can take minutes
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let prepared = try await watched.prepare(session, board: nil, choice: .preset("llm"))
            let fixing = Task { try await watched.apply(prepared, session: session, reboot: true) }
            while rebooting.noted == 0 { try await Task.sleep(nanoseconds: 20_000_000) }
            // From the reboot command until the board goes down (a second of `sleep 1` and the sync at least),
            // another run must find the lock held.
            let other = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board, connectTimeout: 3))
            var refused = 0, taken = 0
            for _ in 0..<300 {
                do {
                    let held = try await other.take(.bootImage(command: "fix-memory"), protecting: "the boot image")
                    taken += 1
                    await held.release()
                } catch is BoardBusyError {
                    refused += 1
                } catch {
                    break   // the board went down under this session
                }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            await other.close()
            let (result, fresh) = try await fixing.value
            await fresh.close()
            #expect(result.status == .applied)
            // How many attempts fit before the board goes down depends on the machine's load (4 were seen on a
            // busy CI-sized host); what matters is that every one was refused and none took the lock.
            #expect(refused >= 1, "the board went down after \(refused) attempts")
            #expect(taken == 0)
            #expect(try liveHeaps(harness, board)["npu"] == 7168 * mebibyte)
        }
    }
}
