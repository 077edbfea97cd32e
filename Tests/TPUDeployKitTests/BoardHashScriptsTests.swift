import Foundation
import Testing
@testable import TPUDeployKit

/// The board's side of a push's hash check, run here with /bin/sh (dash on Debian: POSIX, as on the boards)
/// and the same coreutils and OpenSSL commands.
@Suite struct BoardHashScriptsTests {
    private let directory: URL
    private var scripts: PushScripts { PushScripts(directory: directory.path) }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-board-hash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    private func shell(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    private func identity(_ path: String) throws -> String {
        try shell("stat -c '\(PushScripts.identityFormat)' '\(path)'").trimmingCharacters(in: .newlines)
    }

    private static func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

    @Test func hashesTheFileAsItGrowsAndNamesItsStateWhenComplete() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let partial = scripts.partialPath("model.bmodel")
        let content = Self.bytes(3 << 20, seed: 5)
        FileManager.default.createFile(atPath: partial, contents: nil)
        // A writer appends in pieces while the script follows the file, as sftp-server does during an upload.
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: partial) else { return }
            for start in stride(from: 0, to: content.count, by: 256 << 10) {
                handle.write(Data(content[start..<min(content.count, start + (256 << 10))]))
                usleep(20_000)
            }
            try? handle.close()
        }
        writer.start()
        let output = try shell(scripts.hashWhileReceiving(name: "model.bmodel", size: UInt64(content.count)))
        let received = try #require(PushScripts.HashWhileReceiving(output: output), "\(output)")
        #expect(received.sha256 == Digest.hex(Digest.sha256(content)))
        #expect(received.identity == (try identity(partial)))
    }

    @Test func givesUpWithoutAStateWhenTheFileShrinks() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let partial = scripts.partialPath("model.bmodel")
        try LocalFile.write(Self.bytes(1 << 20, seed: 1), to: partial)
        let shrink = Thread {
            usleep(300_000)
            truncate(partial, 1000)
        }
        shrink.start()
        let output = try shell(scripts.hashWhileReceiving(name: "model.bmodel", size: 4 << 20))
        #expect(!output.contains("@@identity"), "\(output)")
        #expect(PushScripts.HashWhileReceiving(output: output) == nil)
    }

    @Test func theHashTakenWhileReceivingIsUsedOnlyWhileTheFileIsUnchanged() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let partial = scripts.partialPath("model.bmodel"), final = scripts.finalPath("model.bmodel")
        let content = Self.bytes(1 << 20, seed: 9)
        let sha = Digest.hex(Digest.sha256(content))
        func received(_ hash: String) throws -> PushScripts.HashWhileReceiving {
            try #require(PushScripts.HashWhileReceiving(output: "@@identity \(try identity(partial))\n@@hash \(hash)\n"))
        }

        // Unchanged since it was hashed: installed on that hash, without reading it again.
        try LocalFile.write(content, to: partial)
        #expect(try shell(scripts.verifyAndInstall(name: "model.bmodel", sha256: sha, mode: 0o640, received: received(sha)))
            .contains("@@ok while_receiving"))
        #expect(try LocalFile.read(final) == content)
        #expect(!FileManager.default.fileExists(atPath: partial))
        #expect(try shell("stat -c %a '\(final)'").hasPrefix("640"))

        // A byte changed after the hash was taken (same size): the file is read back and the change caught.
        try LocalFile.write(content, to: partial)
        let hashed = try received(sha)
        usleep(20_000)  // past the file system's timestamp granularity
        var changed = content
        changed[100_000] ^= 1
        // In place, as a failing disk or a stray writer would: same inode, same size.
        _ = try shell("printf '\\\(String(changed[100_000], radix: 8))' | dd of='\(partial)' bs=1 seek=100000 conv=notrunc 2>/dev/null")
        #expect(try LocalFile.read(partial) == changed)
        let verdict = try shell(scripts.verifyAndInstall(name: "model.bmodel", sha256: sha, mode: 0o644, received: hashed))
        #expect(verdict.contains("@@mismatch \(Digest.hex(Digest.sha256(changed)))"), "\(verdict)")
        #expect(FileManager.default.fileExists(atPath: partial))

        // Touched but the same bytes: read back, and installed.
        try LocalFile.write(content, to: partial)
        let before = try received(sha)
        usleep(20_000)
        _ = try shell("touch '\(partial)'")
        #expect(try shell(scripts.verifyAndInstall(name: "model.bmodel", sha256: sha, mode: 0o644, received: before)).contains("@@ok read_back"))

        // A hash taken while receiving that is not the expected one is never trusted: the file is read back.
        try LocalFile.write(content, to: partial)
        let wrong = try received(String(repeating: "0", count: 64))
        #expect(try shell(scripts.verifyAndInstall(name: "model.bmodel", sha256: sha, mode: 0o644, received: wrong)).contains("@@ok read_back"))
    }

    /// A file name may hold `$(…)` (only `/` and control characters are refused): the script's messages name it
    /// without running it, also on the path where the file cannot be put in place.
    @Test func aHostileFileNameIsNamedNotRun() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "x$(echo INJECTED)`echo TICKED`'\"y.bmodel"
        let content = Self.bytes(4096, seed: 3)
        try LocalFile.write(content, to: scripts.partialPath(name))
        // A non-empty directory where the file goes: the rename fails and the script says so.
        try FileManager.default.createDirectory(atPath: scripts.finalPath(name) + "/in-the-way", withIntermediateDirectories: true)
        let verdict = try shell(scripts.verifyAndInstall(name: name, sha256: Digest.hex(Digest.sha256(content)), mode: 0o644))
        #expect(verdict.contains("@@error cannot put \(scripts.partialPath(name)) in place as \(scripts.finalPath(name))"), "\(verdict)")
        #expect(!verdict.contains("INJECTED") || verdict.contains("$(echo INJECTED)"), "\(verdict)")
        #expect(!verdict.contains("xINJECTED") && !verdict.contains("TICKED'") && !verdict.contains("xTICKED"), "\(verdict)")
    }

    @Test func readsOnlyAFinishedFollowersOutput() {
        let hash = String(repeating: "ab", count: 32)
        #expect(PushScripts.HashWhileReceiving(output: "@@identity 5/7/x\n@@hash \(hash)\n")?.sha256 == hash)
        #expect(PushScripts.HashWhileReceiving(output: "@@hash \(hash)\n") == nil)
        #expect(PushScripts.HashWhileReceiving(output: "@@identity 5/7/x\n@@hash abc\n") == nil)
        #expect(PushScripts.HashWhileReceiving(output: "@@identity \n@@hash \(hash)\n") == nil)
    }
}
