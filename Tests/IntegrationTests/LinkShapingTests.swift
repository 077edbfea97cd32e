import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// Seconds `body` took.
private func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

@Suite("link shaping of simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct LinkShapingTests {
    /// 16 MiB each way over a 50 Mbit/s link needs at least 2.68 s of wire time per direction; a burst of a few
    /// hundred KiB does not change that. Only lower bounds on time are asserted: a busy machine may be slower, never faster.
    @Test func aShapedLinkIsNoFasterThanItsRateInBothDirectionsAndUnshapingRestoresIt() async throws {
        let bytes = 16 << 20, rateMbit = 50
        let wireSeconds = Double(bytes) * 8 / (Double(rateMbit) * 1e6)
        let payload = [UInt8](repeating: 0x5A, count: bytes)
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            func upload() async throws -> Double {
                try await seconds {
                    let result = try await session.run("wc -c", input: payload, timeout: 120)
                    #expect(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == String(bytes))
                }
            }
            func download() async throws -> Double {
                try await seconds {
                    let result = try await session.run("head -c \(bytes) /dev/zero", timeout: 120)
                    #expect(result.stdout.count == bytes)
                }
            }

            /// The root qdisc of each end of the board's link, as `tc` itself lists it.
            func rootQdiscs() throws -> [String] {
                let record = try harness.simulator.layout.record(board.name)
                let host = try CommandRunner.run("tc", ["qdisc", "show", "dev", record.network.hostVeth(slot: record.slot), "root"])
                let inBoard = try CommandRunner.run("tc", ["-n", record.network.namespace(board: board.name), "qdisc", "show", "dev", "eth0", "root"])
                return [host, inBoard]
            }
            #expect(try rootQdiscs().allSatisfy { !$0.contains("tbf") })

            try harness.simulator.shapeLink(of: board.name, rateMbit: rateMbit)
            // Shaping again replaces the limit rather than stacking a second one.
            try harness.simulator.shapeLink(of: board.name, rateMbit: rateMbit)
            for shown in try rootQdiscs() {
                #expect(shown.components(separatedBy: "qdisc tbf").count == 2, "\(shown)")
                #expect(shown.contains("rate 50Mbit"), "\(shown)")
            }
            let shapedUp = try await upload(), shapedDown = try await download()
            #expect(shapedUp >= wireSeconds * 0.9, "host → board took \(shapedUp) s; 50 Mbit/s needs \(wireSeconds) s")
            #expect(shapedDown >= wireSeconds * 0.9, "board → host took \(shapedDown) s; 50 Mbit/s needs \(wireSeconds) s")

            // Unshaping removes both token buckets, and a second unshape is harmless. (Not timed: how fast an
            // unshaped transfer is depends on how busy the machine is.)
            try harness.simulator.shapeLink(of: board.name, rateMbit: nil)
            try harness.simulator.shapeLink(of: board.name, rateMbit: nil)
            let unshaped = try rootQdiscs()
            #expect(unshaped.allSatisfy { !$0.contains("tbf") }, "\(unshaped)")
            _ = try await upload()
            _ = try await download()
            await session.close()
        }
    }

    @Test func aRateOutsideWhatALinkCanBeIsRefused() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            #expect(throws: SimulatorError.self) { try harness.simulator.shapeLink(of: boards[0].name, rateMbit: 0) }
            #expect(throws: SimulatorError.self) { try harness.simulator.shapeLink(of: "no-such-board", rateMbit: 100) }
        }
    }
}
