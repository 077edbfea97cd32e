import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// The host's own uplink (`Simulator.shapeHostLink`): what the host sends to all boards together is limited and
/// counted, while what the boards send each other passes the bridge without touching the host's link.
@Suite("host link shaping of a simulated fleet", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct HostLinkShapingTests {
    /// 8 MiB to each of two boards at once through a 50 Mbit/s host link needs at least 2.68 s of wire time
    /// together, although neither board's own link is limited. Only a lower bound on time is asserted.
    @Test func theHostLinkLimitsWhatTheHostSendsToAllBoardsTogetherAndCountsIt() async throws {
        let bytes = 8 << 20, rateMbit = 50
        let wireSeconds = Double(2 * bytes) * 8 / (Double(rateMbit) * 1e6)
        let payload = [UInt8](repeating: 0xA5, count: bytes)
        try await SimulatedBoardHarness.withBoards(count: 2) { harness, boards in
            let simulator = harness.simulator
            func bridgeQdisc() throws -> String {
                let network = try #require(SimNetwork.existing(in: simulator.layout))
                return try CommandRunner.run("tc", ["qdisc", "show", "dev", network.bridge, "root"])
            }
            #expect(try !bridgeQdisc().contains("tbf"))
            let first = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(boards[0]))
            let second = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(boards[1]))

            try simulator.shapeHostLink(rateMbit: rateMbit)
            try simulator.shapeHostLink(rateMbit: rateMbit)  // replaces, does not stack
            let shaped = try bridgeQdisc()
            #expect(shaped.components(separatedBy: "qdisc tbf").count == 2, "\(shaped)")
            #expect(shaped.contains("rate 50Mbit"), "\(shaped)")

            let sentBefore = try simulator.hostSentBytes()
            let start = DispatchTime.now().uptimeNanoseconds
            async let toFirst = first.run("wc -c", input: payload, timeout: 120)
            async let toSecond = second.run("wc -c", input: payload, timeout: 120)
            let received = try await [toFirst, toSecond].map { $0.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let sent = try simulator.hostSentBytes() - sentBefore
            #expect(received == [String(bytes), String(bytes)])
            #expect(seconds >= wireSeconds * 0.9, "2 × 8 MiB took \(seconds) s; a 50 Mbit/s host link needs \(wireSeconds) s")
            #expect(sent >= UInt64(2 * bytes), "the host's counter saw \(sent) bytes leave for 2 × \(bytes) bytes of payload")

            // Board to board (OpenSSH on the first board sending to the second): the host's counter stays put
            // but for the command's own few packets.
            let board = boards[1]
            let relayBefore = try simulator.hostSentBytes()
            let relay = try await first.run("""
                head -c \(bytes) /dev/zero | ssh -i \(board.identityFile) -o UserKnownHostsFile=\(board.knownHostsFile) \
                -o StrictHostKeyChecking=yes -o BatchMode=yes -F /dev/null root@\(board.host) 'wc -c'
                """, timeout: 120)
            let relaySent = try simulator.hostSentBytes() - relayBefore
            #expect(relay.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == String(bytes), "\(relay.stderrText)")
            #expect(relaySent < UInt64(bytes / 8), "the host sent \(relaySent) bytes while one board sent another \(bytes)")

            try simulator.shapeHostLink(rateMbit: nil)
            try simulator.shapeHostLink(rateMbit: nil)
            #expect(try !bridgeQdisc().contains("tbf"))
            await first.close()
            await second.close()
        }
    }

    @Test func aRateOutsideWhatALinkCanBeOrASimulatorWithoutBoardsIsRefused() async throws {
        try await SimulatedBoardHarness.withBoards { harness, _ in
            #expect(throws: SimulatorError.self) { try harness.simulator.shapeHostLink(rateMbit: 0) }
        }
        let empty = Simulator(stateDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("tpd-it-none-\(getpid())"))
        #expect(throws: SimulatorError.self) { try empty.shapeHostLink(rateMbit: 100) }
        #expect(throws: SimulatorError.self) { try empty.hostSentBytes() }
    }
}
