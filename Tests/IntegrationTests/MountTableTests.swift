import Foundation
import Testing
@testable import TPUDeploySimulator

/// `sim down` finds a board's mounts in /proc/self/mounts: all of them, however long the table. A table over
/// 4 KiB (a few boards running) used to be cut there, and down left the newest boards' /boot and /data mounted.
@Suite(.enabled(if: SimulatedBoardHarness.isRoot, "needs root to mount"))
struct MountTableTests {
    @Test func aMountAfterTheFirstFourKiBIsSeen() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-mounts-\(UUID().uuidString.prefix(8))")
        var mounted: [String] = []
        defer {
            for point in mounted.reversed() { _ = try? SimulatedBoardHarness.run("/bin/umount", [point]) }
            try? FileManager.default.removeItem(at: directory)
        }
        // Long mount points until the table is well past 4 KiB; the last one is listed at its end.
        while try SimulatedBoardHarness.run("/bin/cat", ["/proc/self/mounts"]).utf8.count < 8192 || mounted.count < 2 {
            let point = directory.appendingPathComponent("m\(mounted.count)-" + String(repeating: "x", count: 150)).path
            try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
            try SimulatedBoardHarness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tpd-mount-test", point])
            mounted.append(point)
        }
        #expect(MountTable.mountPoints(under: directory.path).sorted() == mounted.sorted())
    }
}
