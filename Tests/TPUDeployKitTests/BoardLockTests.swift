import Foundation
import Testing
@testable import TPUDeployKit

/// The board lock's script, run here with /bin/sh (dash, as POSIX as the boards' shell) and util-linux flock:
/// two holders at once, what the second is told, and the ways the lock is freed.
@Suite struct BoardLockTests {
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-board-lock-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    private func lock(_ holder: String) -> BoardLock {
        BoardLock(name: "boot-image", holder: holder, directories: [directory.appendingPathComponent("missing").path, directory.path])
    }

    /// A lock script running with its input open, as over an SSH channel.
    private final class Holder {
        let process = Process()
        let input = Pipe()
        let output = Pipe()

        init(_ script: String) throws {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            // As sshd runs a command: the login shell becomes the script's shell, whose pid it records.
            process.arguments = ["-c", "exec " + script]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
        }

        func firstLine() -> String? {
            var bytes: [UInt8] = []
            while !bytes.contains(UInt8(ascii: "\n")) {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                bytes += data
            }
            guard !bytes.isEmpty else { return nil }
            return String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        }

        func release() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    private func attempt(_ holder: String) throws -> BoardLock.Outcome {
        let other = try Holder(lock(holder).script)
        defer { other.release() }
        return BoardLock.outcome(firstLine: other.firstLine())
    }

    @Test func aSecondRunIsToldWhoHoldsTheLockUntilItsInputEnds() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        // An earlier holder, another user, left its description behind: older than the current holder's.
        let stale = directory.appendingPathComponent("tpudeploy-boot-image.lock.holder.65534").path
        try LocalFile.write(Array("tpudeploy push from old; board pid 1\n".utf8), to: stale)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: stale)
        let first = try Holder(lock("tpudeploy fix-memory from a").script)
        #expect(BoardLock.outcome(firstLine: first.firstLine()) == .locked)

        let second = try attempt("tpudeploy fix-memory from b")
        guard case .busy(let holder) = second else {
            Issue.record("expected busy, got \(second)")
            first.release()
            return
        }
        #expect(holder == "tpudeploy fix-memory from a; board pid \(first.process.processIdentifier)")
        let error = BoardBusyError(target: "evb", what: "the boot image", holder: holder)
        #expect(error.description.contains("kill \(first.process.processIdentifier)"))

        first.release()
        #expect(first.process.terminationStatus == 0)
        #expect(try attempt("tpudeploy fix-memory from c") == .locked)
    }

    @Test func killingTheRecordedPidFreesTheLock() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Holder(lock("tpudeploy push from a").script)
        #expect(BoardLock.outcome(firstLine: first.firstLine()) == .locked)
        // The pid the busy message tells the user to kill; the `cat` left waiting must not keep the lock.
        guard case .busy(let holder) = try attempt("b"), let pid = holder.flatMap(BoardBusyError.boardPID) else {
            Issue.record("no board pid recorded")
            first.release()
            return
        }
        kill(pid_t(pid), SIGTERM)
        // Foundation does not always see a child killed by a signal end, so ask the lock itself, for a while.
        var outcome = try attempt("c")
        for _ in 0..<50 where outcome != .locked {
            usleep(100_000)
            outcome = try attempt("c")
        }
        #expect(outcome == .locked)
        try? first.input.fileHandleForWriting.close()
    }

    @Test func aBoardWithoutALockDirectoryGoesOnUnlocked() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let nowhere = BoardLock(name: "x", holder: "h", directories: [directory.appendingPathComponent("none").path])
        let holder = try Holder(nowhere.script)
        let outcome = BoardLock.outcome(firstLine: holder.firstLine())
        holder.release()
        #expect(outcome == .unavailable(reason: "no writable lock directory (\(directory.appendingPathComponent("none").path))"))
    }

    @Test func namesAreSafeFileNamesAndPushLocksAreperDirectory() {
        #expect(BoardLock(name: "a/b c", holder: "").name == "a-b-c")
        let one = BoardLock.deploymentDirectory("/data/tpudeploy/a", command: "push")
        let other = BoardLock.deploymentDirectory("/data/tpudeploy/b", command: "push")
        #expect(one.name != other.name)
        #expect(one.name == BoardLock.deploymentDirectory("/data/tpudeploy/a", command: "push").name)
        #expect(one.holder.hasPrefix("tpudeploy push from "))
    }

    @Test func answersThatAreNotTheScriptsAreNotALock() {
        #expect(BoardLock.outcome(firstLine: nil) == .unavailable(reason: "the lock command printed nothing"))
        #expect(BoardLock.outcome(firstLine: "Welcome to Ubuntu") == .unavailable(reason: "unexpected answer: Welcome to Ubuntu"))
        #expect(BoardLock.outcome(firstLine: "@@busy ") == .busy(holder: nil))
        #expect(BoardBusyError.boardPID("tpudeploy push from x (pid 12) since t; board pid 345") == 345)
        #expect(BoardBusyError(target: "evb", what: "the boot image", holder: nil).description.contains("reboot the board"))
    }

    @Test func aHolderRecordWhosePidIsGoneIsNotShown() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Holder(lock("tpudeploy fix-memory from a").script)
        #expect(BoardLock.outcome(firstLine: first.firstLine()) == .locked)
        // A newer record than the holder's, of a process that no longer runs (its write failed, say).
        let gone = directory.appendingPathComponent("tpudeploy-boot-image.lock.holder.65534").path
        try LocalFile.write(Array("tpudeploy push from old; board pid 999999999\n".utf8), to: gone)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: gone)
        // The gone one is passed over for the record of the run that holds the lock.
        #expect(try attempt("b") == .busy(holder: "tpudeploy fix-memory from a; board pid \(first.process.processIdentifier)"))
        first.release()
    }

    @Test func lockAndHolderFilesAreWritableByTheirOwnerOnly() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Holder(lock("tpudeploy fix-memory from a").script)
        #expect(BoardLock.outcome(firstLine: first.firstLine()) == .locked)
        defer { first.release() }
        let lockFile = directory.appendingPathComponent("tpudeploy-boot-image.lock").path
        let holderFile = lockFile + ".holder.\(getuid())"
        for path in [lockFile, holderFile] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == 0o644, "\(path): \(String(mode, radix: 8))")
        }
    }

    /// Root here plays every user: a holder record another user forged is not believed, whatever pid it names.
    @Test(.enabled(if: getuid() == 0, "needs root to give a file to another user"))
    func aForgedHolderRecordIsNotBelieved() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Holder(lock("tpudeploy fix-memory from a").script)
        #expect(BoardLock.outcome(firstLine: first.firstLine()) == .locked)
        defer { first.release() }
        let real = "tpudeploy fix-memory from a; board pid \(first.process.processIdentifier)"
        #expect(try attempt("b") == .busy(holder: real))
        let rootsRecord = directory.appendingPathComponent("tpudeploy-boot-image.lock.holder.0").path
        let nobodysRecord = directory.appendingPathComponent("tpudeploy-boot-image.lock.holder.65534").path
        func forge(_ path: String, owner: Int, text: String) throws {
            try? FileManager.default.removeItem(atPath: path)
            try LocalFile.write(Array(text.utf8), to: path)
            try FileManager.default.setAttributes([.ownerAccountID: owner, .modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: path)
        }
        // nobody (65534) writes root's record, naming a pid of its choosing: not root's file, not believed.
        try forge(rootsRecord, owner: 65534, text: "tpudeploy push from admin; board pid 1\n")
        #expect(try attempt("c") == .busy(holder: nil))
        // nobody's own record naming root's pid 1: pid 1 is not nobody's.
        try forge(nobodysRecord, owner: 65534, text: "tpudeploy push from admin; board pid 1\n")
        #expect(try attempt("d") == .busy(holder: nil))
        // A record in root's own file naming a process that does not hold the lock.
        try forge(rootsRecord, owner: 0, text: "tpudeploy push from admin; board pid 1\n")
        #expect(try attempt("e") == .busy(holder: nil))
    }

    @Test func spellingsOfOneDirectoryShareALock() {
        #expect(BoardLock.normalizedPath("/data//tpudeploy/./x/") == "/data/tpudeploy/x")
        #expect(BoardLock.normalizedPath("/data/tpudeploy/y/../x") == "/data/tpudeploy/x")
        #expect(BoardLock.deploymentDirectory("/data/tpudeploy/x/", command: "push").name
                == BoardLock.deploymentDirectory("/data/tpudeploy/x", command: "push").name)
    }
}
