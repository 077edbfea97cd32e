import Foundation
import Testing
@testable import TPUDeployKit

/// Runs the board scripts with the local `sh` on a scratch /boot and /data: the scripts are plain POSIX
/// shell and coreutils, so what they do to files here is what they do on a board.
private struct ScratchBoard {
    let root: URL
    let layout: BootFileLayout

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-boot-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("boot"), withIntermediateDirectories: true)
        layout = BootFileLayout(bootDirectory: root.appendingPathComponent("boot").path,
                                backupDirectory: root.appendingPathComponent("data/tpudeploy/backups").path)
    }

    func write(_ path: String, _ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }
    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    func sh(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

private func sha256(_ text: String) -> String { HexText.bytes(FITHashAlgorithm.sha256.digest(Array(text.utf8))) }

/// A backup's file name: the stamp and the first 12 hex digits of the image's sha256 (two runs in one second
/// never overwrite each other's backup).
private func backupName(_ stamp: String, _ image: String) -> String { "emmcboot-\(stamp)-\(sha256(image).prefix(12)).itb" }

@Suite struct BootFileScriptsTests {
    @Test func installsTheNewImageAfterTwoCheckedBackups() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "old image")
        try board.write(board.layout.its, "its")
        let upload = board.root.appendingPathComponent("upload").path
        try board.write(upload, "new image")
        let output = try board.sh(board.layout.installScript(
            source: upload, newSHA: sha256("new image"), expectedCurrentSHA: sha256("old image"), stamp: "20261121T220000Z", keepSource: false))
        #expect(output.hasPrefix("@@ok "), "\(output)")
        #expect(board.read(board.layout.image) == "new image")
        #expect(board.read(board.layout.bootBackup) == "old image")
        let kept = board.layout.backupDirectory + "/" + backupName("20261121T220000Z", "old image")
        #expect(output.hasSuffix(" \(kept)\n"), "\(output)")
        #expect(board.read(kept) == "old image")
        #expect(board.read(board.layout.backupDirectory + "/multi-20261121T220000Z-\(sha256("old image").prefix(12)).its") == "its")
        #expect(board.read(board.layout.stagedImage) == nil)
        #expect(board.read(upload) == nil)

        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed == [BootImageBackup(stamp: "20261121T220000Z", sha256: sha256("old image"),
                                           path: kept, condition: .ok,
                                           reason: .fix, replacedBy: sha256("new image"))])
        #expect(RollbackChoice.undoing(listed, currentSHA256: sha256("new image")) == listed)
        #expect(RollbackChoice.undoing(listed, currentSHA256: sha256("something else")).isEmpty)
        try board.write(kept, "bit rot")
        #expect(try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript)).first?.condition == .damaged)
    }

    @Test func aDamagedUploadChangesNothing() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "old image")
        let upload = board.root.appendingPathComponent("upload").path
        try board.write(upload, "new imag")  // one byte short
        let output = try board.sh(board.layout.installScript(
            source: upload, newSHA: sha256("new image"), expectedCurrentSHA: nil, stamp: "s", keepSource: false))
        #expect(output.contains("@@error:") && output.contains("does not have the expected sha256"))
        #expect(board.read(board.layout.image) == "old image")
        #expect(board.read(board.layout.stagedImage) == nil)
        #expect(board.read(board.layout.bootBackup) == nil)
    }

    @Test func anImageChangedBehindOurBackIsNotOverwritten() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "someone else's image")
        let upload = board.root.appendingPathComponent("upload").path
        try board.write(upload, "new image")
        let output = try board.sh(board.layout.installScript(
            source: upload, newSHA: sha256("new image"), expectedCurrentSHA: sha256("old image"), stamp: "s", keepSource: false))
        #expect(output.contains("changed since tpudeploy read it"))
        #expect(board.read(board.layout.image) == "someone else's image")
    }

    @Test func restoringABackupKeepsTheBackup() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "edited image")
        let backup = board.root.appendingPathComponent("factory.itb").path
        try board.write(backup, "factory image")
        let output = try board.sh(board.layout.installScript(
            source: backup, newSHA: sha256("factory image"), expectedCurrentSHA: nil, stamp: "s2", keepSource: true, reason: .rollback))
        #expect(output.hasPrefix("@@ok "), "\(output)")
        #expect(board.read(board.layout.image) == "factory image")
        #expect(board.read(backup) == "factory image")
        #expect(board.read(board.layout.backupDirectory + "/" + backupName("s2", "edited image")) == "edited image")
        // The backup a rollback makes is never itself a rollback target: undo does not redo.
        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed.first?.reason == .rollback)
        #expect(RollbackChoice.undoing(listed, currentSHA256: sha256("factory image")).isEmpty)
    }

    @Test func anImageAlreadyBackedUpIsNotCopiedAgain() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "factory image")
        let upload = board.root.appendingPathComponent("upload").path
        try board.write(upload, "edit")
        _ = try board.sh(board.layout.installScript(source: upload, newSHA: sha256("edit"), expectedCurrentSHA: nil, stamp: "s1", keepSource: false))
        let first = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        // Back to the factory image (as a rollback does), then the same edit again: the factory backup is reused.
        try board.write(board.layout.image, "factory image")
        try board.write(upload, "edit")
        let output = try board.sh(board.layout.installScript(
            source: upload, newSHA: sha256("edit"), expectedCurrentSHA: sha256("factory image"), stamp: "s2", keepSource: false,
            reusing: first[0].path))
        #expect(output.hasPrefix("@@ok ") && output.hasSuffix(" \(first[0].path)\n"), "\(output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: board.layout.backupDirectory).filter { $0.hasSuffix(".itb") }
        #expect(files == [backupName("s1", "factory image")])
        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed.map(\.path) == [first[0].path, first[0].path])
        #expect(listed.map(\.condition) == [.ok, .ok])
    }

    @Test func aDamagedLiveImageIsReplacedWithoutBackingItUp() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "damaged image")
        try board.write(board.layout.bootBackup, "older backup")
        let backup = board.root.appendingPathComponent("factory.itb").path
        try board.write(backup, "factory image")
        let output = try board.sh(board.layout.installScript(
            source: backup, newSHA: sha256("factory image"), expectedCurrentSHA: sha256("damaged image"), stamp: "s", keepSource: true,
            reason: .rollback, backingUp: false))
        #expect(output == "@@ok - -\n", "\(output)")
        #expect(board.read(board.layout.image) == "factory image")
        #expect(board.read(board.layout.bootBackup) == "older backup")
        #expect(board.read(board.layout.backupIndex) == nil)
    }

    /// /data full (the backup's path leads to /dev/full, which takes no byte, as a full file system): a rollback
    /// goes on with the backup on /boot only and says so; a fix changes nothing.
    @Test func aFullDataPartitionBlocksAFixButNotARollback() throws {
        for reason in [BootImageBackup.Reason.rollback, .fix] {
            let board = try ScratchBoard()
            try board.write(board.layout.image, "edited image")
            try board.write(board.layout.its, "its")
            try FileManager.default.createDirectory(atPath: board.layout.backupDirectory, withIntermediateDirectories: true)
            let full = board.layout.backupDirectory + "/" + backupName("s3", "edited image")
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: "/dev/full")
            let backup = board.root.appendingPathComponent("factory.itb").path
            try board.write(backup, "factory image")
            let output = try board.sh(board.layout.installScript(
                source: backup, newSHA: sha256("factory image"), expectedCurrentSHA: sha256("edited image"), stamp: "s3", keepSource: true,
                reason: reason, dataBackupRequired: reason == .fix))
            let files = try FileManager.default.contentsOfDirectory(atPath: board.layout.backupDirectory)
            #expect(files.isEmpty, "no partial backup, no index line: \(files)")
            if reason == .rollback {
                #expect(output.contains("@@note:cannot back up \(board.layout.image) to \(board.layout.backupDirectory) (is /data full?)"), "\(output)")
                #expect(output.hasSuffix("@@ok \(board.layout.bootBackup) -\n"), "\(output)")
                #expect(board.read(board.layout.image) == "factory image")
                #expect(board.read(board.layout.bootBackup) == "edited image")
            } else {
                #expect(output.contains("@@error:cannot back up") && output.contains("nothing was changed"), "\(output)")
                #expect(board.read(board.layout.image) == "edited image")
                #expect(board.read(board.layout.bootBackup) == nil)
            }
        }
    }

    @Test func pruningRemovesTheDroppedFilesAndRewritesTheIndex() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, "v0")
        try board.write(board.layout.its, "its")
        let upload = board.root.appendingPathComponent("upload").path
        for (index, version) in ["v1", "v2", "v3", "v4", "v5"].enumerated() {
            try board.write(upload, version)
            let output = try board.sh(board.layout.installScript(
                source: upload, newSHA: sha256(version), expectedCurrentSHA: nil, stamp: "s\(index)", keepSource: false))
            #expect(output.hasPrefix("@@ok "), "\(output)")
        }
        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed.count == 5)
        let plan = BackupRetention(backups: listed, directory: board.layout.backupDirectory, keepingNewest: 2)
        #expect(try board.sh(board.layout.pruneScript(lines: plan.indexLines(), removing: plan.removedFiles)) == "@@ok\n")
        let after = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(after.map(\.sha256) == ["v0", "v3", "v4"].map(sha256))
        #expect(after.map(\.factory) == [true, false, false])
        #expect(after.allSatisfy { $0.condition == .ok })
        let files = try FileManager.default.contentsOfDirectory(atPath: board.layout.backupDirectory).sorted()
        #expect(files.count == 7, "\(files)")   // three images, their three multi.its copies... and the index
        #expect(files.filter { $0.hasSuffix(".itb") }.count == 3)
        // The undo chain steps over the pruned v1 and v2: v4 ← v3 ← v0.
        #expect(RollbackChoice.undoing(after, currentSHA256: sha256("v5")).map(\.sha256) == ["v4", "v3", "v0"].map(sha256))
    }

    @Test func theSpaceCheckReadsSizesAndFreeSpace() throws {
        let board = try ScratchBoard()
        try board.write(board.layout.image, String(repeating: "x", count: 1000))
        let space = try BootSpace(text: try board.sh(board.layout.spaceScript))
        #expect(space.imageBytes == 1000)
        #expect(space.itsBytes == 0)
        #expect(space.bootFreeBytes > 0)
        #expect(space.bootBytesNeeded(newImageBytes: 1200) == 2200)
    }
}
