import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))
private let mebibyte: UInt64 = 1 << 20
/// The simulated EVB's factory heaps (16 GB).
private let factoryHeaps: [String: UInt64] = ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 3 << 30]

private func fixer() -> BoardMemoryFixer {
    var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: nil, events: nil)
    fixer.rebootTimeout = 300   // a limit for a hang: on two loaded cores a simulated reboot can take minutes
    return fixer
}

private func ssh(_ board: SimulatedBoard, _ command: String) throws -> String {
    try SimulatedBoardHarness.openSSH(board, command).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func sha(_ board: SimulatedBoard, _ path: String = "/boot/emmcboot.itb") throws -> String {
    try ssh(board, "sha256sum \(path) | cut -d' ' -f1")
}

/// Overwrites 16 bytes a third of the way into a file with random ones, as bit rot or a bad write would: in a
/// boot image that is the kernel's data, whose crc32 then no longer matches.
private func corrupt(_ board: SimulatedBoard, _ path: String) throws {
    _ = try ssh(board, "dd if=/dev/urandom of=\(path) bs=1 count=16 seek=$(( $(stat -c %s \(path)) / 3 )) conv=notrunc 2>/dev/null && sync")
}

/// Writes `sizes` with no reboot, as fix-memory --no-reboot does, and returns the sha256 of the new image.
@discardableResult
private func fix(_ board: SimulatedBoard, npuMiB: UInt64) async throws -> String {
    let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
    let prepared = try await fixer().prepare(
        session, board: nil, choice: .sizes(HeapSizes(npu: .mebibytes(npuMiB), vpu: .mebibytes(1024), vpp: .mebibytes(1024))))
    let (result, same) = try await fixer().apply(prepared, session: session, reboot: false)
    await same.close()
    #expect(result.status == .rebootPending)
    return try #require(prepared.newImageSHA256)
}

private func rollback(_ board: SimulatedBoard, reboot: Bool) async throws -> MemoryFixResult {
    let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
    let (result, last) = try await fixer().rollback(session, reboot: reboot)
    await last.close()
    return result
}

private func expectNothingToRollBack(_ board: SimulatedBoard, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
    await #expect(sourceLocation: sourceLocation) {
        _ = try await fixer().rollback(session, reboot: true)
    } throws: { error in
        guard case MemoryFixError.noBackup = error else { return false }
        return "\(error)".contains("nothing to roll back")
    }
    await session.close()
}

@Suite("a damaged boot image and the backups, on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct BootImageRecoveryTests {
    /// After a fix-memory, /boot/emmcboot.itb is corrupted (then, later, truncated): inspect says so and what to
    /// do; --rollback puts back the newest intact backup (the factory image), the board boots it; a second
    /// --rollback has nothing to undo.
    @Test func aDamagedBootImageIsReportedAndTheNewestIntactBackupRestored() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factory = try sha(board)
            try await fix(board, npuMiB: 6000)
            try corrupt(board, "/boot/emmcboot.itb")

            let inspect = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let report = try await BoardInspector(profiles: profiles).inspect(inspect)
            await inspect.close()
            let warning = report.warnings.first { $0.contains("/boot/emmcboot.itb is damaged") }
            #expect(warning?.contains("'kernel-1'") == true, "\(report.warnings)")
            #expect(warning?.contains("tpudeploy fix-memory --rollback") == true)
            #expect(BoardReportText.render(report).contains("warning: /boot/emmcboot.itb is damaged"))
            // fix-memory will not edit it (nor carry its damaged kernel into a new image).
            let planning = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            await #expect {
                _ = try await fixer().prepare(planning, board: nil, choice: .preset("llm"))
            } throws: { error in
                guard case MemoryFixError.bootImageDamaged = error else { return false }
                return "\(error)".contains("fix-memory --rollback")
            }
            await planning.close()

            let restored = try await rollback(board, reboot: true)
            #expect(restored.status == .rolledBack)
            #expect(restored.restoredFromDamage == true)
            #expect(restored.bootBackup == nil && restored.dataBackup == nil, "a damaged image is not kept as a backup")
            #expect(try sha(board) == factory)
            // The simulator's own boot (dumpimage, every hash) took it.
            #expect(try harness.simulator.liveHeaps(of: board.name) == factoryHeaps)
            try await expectNothingToRollBack(board)
            #expect(try sha(board) == factory)

            // Truncated this time (its last dtbs are cut off), and /data lost: the same, from the backup on /boot,
            // without a reboot.
            _ = try ssh(board, "truncate -s -65536 /boot/emmcboot.itb && rm -rf /data/tpudeploy/backups")
            let again = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let truncated = try await BoardInspector(profiles: profiles).inspect(again)
            await again.close()
            #expect(truncated.warnings.contains { $0.contains("/boot/emmcboot.itb is damaged") }, "\(truncated.warnings)")
            let second = try await rollback(board, reboot: false)
            #expect(second.status == .rebootPending && second.restoredFromDamage == true)
            #expect(second.restoredBackup == "/boot/emmcboot.itb.tpudeploy-bak")
            #expect(try sha(board) == factory)
        }
    }

    /// /data full (another program's file takes every byte left): --rollback still undoes a fix-memory, keeping
    /// the image it replaces on /boot only, and the board boots the restored image; a second --rollback has
    /// nothing to undo. A damaged image is restored on a full /data too.
    @Test func aFullDataPartitionDoesNotBlockARollback() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factory = try sha(board)
            let edited = try await fix(board, npuMiB: 6000)
            _ = try ssh(board, "fallocate -l $(( $(df -Pk /data | awk 'NR==2 {print $4}') * 1024 )) /data/fill")
            #expect(try ssh(board, "df -Pk /data | awk 'NR==2 {print $4}'") == "0")

            let undone = try await rollback(board, reboot: true)
            #expect(undone.status == .rolledBack)
            #expect(undone.dataBackup == nil && undone.bootBackup == "/boot/emmcboot.itb.tpudeploy-bak")
            #expect(try sha(board) == factory)
            #expect(try sha(board, "/boot/emmcboot.itb.tpudeploy-bak") == edited)
            #expect(try harness.simulator.liveHeaps(of: board.name) == factoryHeaps)
            try await expectNothingToRollBack(board)
            #expect(try sha(board) == factory)

            // The same fix again (its backup of the factory image is reused: nothing new on /data), then damage.
            _ = try ssh(board, "rm /data/fill")
            try await fix(board, npuMiB: 6000)
            _ = try ssh(board, "fallocate -l $(( $(df -Pk /data | awk 'NR==2 {print $4}') * 1024 )) /data/fill")
            try corrupt(board, "/boot/emmcboot.itb")
            let restored = try await rollback(board, reboot: false)
            #expect(restored.status == .rebootPending && restored.restoredFromDamage == true)
            #expect(try sha(board) == factory)
            _ = try ssh(board, "rm /data/fill")
        }
    }

    /// Nine fix-memory runs and three rollbacks: /data keeps the factory image and the three newest others, one
    /// copy per image; /boot one backup; and with the newest backup damaged, --rollback skips it for the one
    /// before it, which the board then boots.
    @Test func backupsStayBoundedWithoutDuplicatesAndADamagedOneIsSkipped() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factory = try sha(board)
            var installed: [UInt64: String] = [:]
            for run in 1...9 {
                let npu = UInt64(4000 + 100 * run)
                installed[npu] = try await fix(board, npuMiB: npu)
                if run % 3 == 0 { _ = try await rollback(board, reboot: false) }
            }
            // The last rollback (after run 9) undid run 9: the board holds run 8's image.
            #expect(try sha(board) == installed[4800])

            let directory = "/data/tpudeploy/backups"
            let images = try ssh(board, "ls \(directory) | grep -c '^emmcboot-.*\\.itb$'")
            let distinct = try ssh(board, "sha256sum \(directory)/emmcboot-*.itb | cut -d' ' -f1 | sort -u | wc -l")
            let records = try ssh(board, "wc -l < \(directory)/index")
            let its = try ssh(board, "ls \(directory) | grep -c '^multi-.*\\.its$'")
            #expect(Int(images).map { $0 >= 2 && $0 <= BackupRetention.newestKept + 1 } == true, "\(images) backups")
            #expect(distinct == images, "two backups are identical")
            #expect(records == images, "one index record per backup")
            #expect(its == images)
            #expect(try ssh(board, "grep ' factory$' \(directory)/index | cut -d' ' -f2") == factory)
            #expect(try ssh(board, "ls -a /boot | grep -c tpudeploy") == "1")

            // Damage the backup the next rollback would restore (the image run 8 replaced, run 7's): it is skipped
            // for the one before it in the undo chain. Older links were pruned, so that is the factory image.
            let newest = try ssh(board, "grep ' fix \(installed[4800] ?? "")' \(directory)/index | tail -n 1 | cut -d' ' -f3")
            #expect(try ssh(board, "grep \(newest) \(directory)/index | cut -d' ' -f2") == installed[4700])
            try corrupt(board, "\(directory)/\(newest)")
            let result = try await rollback(board, reboot: true)
            #expect(result.status == .rolledBack && result.restoredFromDamage == false)
            #expect(try sha(board) == factory)
            #expect(try harness.simulator.liveHeaps(of: board.name) == factoryHeaps)
        }
    }
}
