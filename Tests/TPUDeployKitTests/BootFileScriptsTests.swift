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
        #expect(board.read(board.layout.backupDirectory + "/emmcboot-20261121T220000Z.itb") == "old image")
        #expect(board.read(board.layout.backupDirectory + "/multi-20261121T220000Z.its") == "its")
        #expect(board.read(board.layout.stagedImage) == nil)
        #expect(board.read(upload) == nil)

        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed == [BootImageBackup(stamp: "20261121T220000Z", sha256: sha256("old image"),
                                           path: board.layout.backupDirectory + "/emmcboot-20261121T220000Z.itb", condition: .ok,
                                           reason: .fix, replacedBy: sha256("new image"))])
        #expect(BootImageBackup.rollbackTarget(in: listed, currentSHA256: sha256("new image")) == listed.first)
        #expect(BootImageBackup.rollbackTarget(in: listed, currentSHA256: sha256("something else")) == nil)
        try board.write(board.layout.backupDirectory + "/emmcboot-20261121T220000Z.itb", "bit rot")
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
        #expect(board.read(board.layout.backupDirectory + "/emmcboot-s2.itb") == "edited image")
        // The backup a rollback makes is never itself a rollback target: undo does not redo.
        let listed = try BootImageBackup.parseList(try board.sh(board.layout.listBackupsScript))
        #expect(listed.first?.reason == .rollback)
        #expect(BootImageBackup.rollbackTarget(in: listed, currentSHA256: sha256("factory image")) == nil)
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
