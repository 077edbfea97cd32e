import Foundation
import Testing
@testable import TPUDeployKit

/// A busy board lock is taken over only when its holder is a run of this machine that cannot be holding it.
@Suite("stale board lock holders")
struct StaleLockHolderTests {
    let host = ProcessInfo.processInfo.hostName
    let me = Int(ProcessInfo.processInfo.processIdentifier)

    func holder(host: String, pid: Int, boardPID: Int = 4242) -> String {
        "tpudeploy push from \(host) (pid \(pid)) since 2026-12-06T18:00:00Z; board pid \(boardPID)"
    }

    @Test func theRecordNamesMachineAndPID() {
        let parsed = StaleLockHolder.machineAndPID(holder(host: "lab-pc", pid: 77))
        #expect(parsed?.0 == "lab-pc" && parsed?.1 == 77)
        #expect(StaleLockHolder.machineAndPID("someone else's words") == nil)
    }

    @Test func aRunOfAnotherMachineIsNeverTakenOver() {
        #expect(StaleLockHolder.boardPIDToEnd(holder: holder(host: host + "-other", pid: 999_999), key: "k-other") == nil)
    }

    @Test func aRunOfThisMachineThatIsGoneIsTakenOver() throws {
        // A child that has exited and been reaped: its pid names no process (until reused, which this instant is not).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        let gone = Int(process.processIdentifier)
        #expect(StaleLockHolder.boardPIDToEnd(holder: holder(host: host, pid: gone), key: "k-gone") == 4242)
        // pid 1 runs: someone may hold it.
        #expect(StaleLockHolder.boardPIDToEnd(holder: holder(host: host, pid: 1), key: "k-one") == nil)
    }

    @Test func thisProcessTakesOverOnlyALockItNoLongerHolds() {
        let key = StaleLockHolder.key(target: "root@board", lock: "push-test")
        StaleLockHolder.taken(key)
        #expect(StaleLockHolder.boardPIDToEnd(holder: holder(host: host, pid: me), key: key) == nil)
        StaleLockHolder.released(key)
        #expect(StaleLockHolder.boardPIDToEnd(holder: holder(host: host, pid: me), key: key) == 4242)
    }
}
