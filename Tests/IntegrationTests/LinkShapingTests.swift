import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// Seconds `body` took.
private func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

@Suite("link shaping of simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct LinkShapingTests {
    /// 16 MiB each way over a 50 Mbit/s link needs at least 2.68 s of wire time per direction; a burst of a few
    /// hundred KiB does not change that. Only lower bounds are asserted: a busy machine may be slower, never faster.
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

            try harness.simulator.shapeLink(of: board.name, rateMbit: rateMbit)
            let shapedUp = try await upload(), shapedDown = try await download()
            #expect(shapedUp >= wireSeconds * 0.9, "host → board took \(shapedUp) s; 50 Mbit/s needs \(wireSeconds) s")
            #expect(shapedDown >= wireSeconds * 0.9, "board → host took \(shapedDown) s; 50 Mbit/s needs \(wireSeconds) s")

            // Shaping again replaces the limit rather than stacking a second one.
            try harness.simulator.shapeLink(of: board.name, rateMbit: rateMbit)
            try harness.simulator.shapeLink(of: board.name, rateMbit: nil)
            try harness.simulator.shapeLink(of: board.name, rateMbit: nil)
            let freeUp = try await upload(), freeDown = try await download()
            #expect(freeUp < wireSeconds / 2, "host → board still took \(freeUp) s after unshaping")
            #expect(freeDown < wireSeconds / 2, "board → host still took \(freeDown) s after unshaping")
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
