import Foundation
import Testing
@testable import TPUDeployKit
@testable import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let remoteDir = "/data/tpudeploy/relayed"

/// The events of a distribution, collected from the tasks that report them.
final class DistributionEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [DistributionEvent] = []
    func append(_ event: DistributionEvent) { lock.lock(); events.append(event); lock.unlock() }
    var all: [DistributionEvent] { lock.lock(); defer { lock.unlock() }; return events }
}

/// What a distribution test works with: simulated boards, an SSH session to each, the payload push would send.
struct DistributionFixture {
    let harness: SimulatedBoardHarness
    let boards: [SimulatedBoard]
    let sessions: [SSHSession]
    let payload: PushPayload
    let files: [PayloadEntry]

    /// The push payload (bmodel, tokenizer, engine) and a random support file of `bigMiB`, named and hashed as push names them.
    static func make(_ harness: SimulatedBoardHarness, _ boards: [SimulatedBoard], bigMiB: Int) async throws -> DistributionFixture {
        let payload = try PushPayload(bigMiB: bigMiB)
        let manifest = try PayloadManifest.build([
            .init(path: payload.bmodel, role: .bmodel), .init(path: payload.tokenizer, role: .tokenizer),
            .init(path: payload.engine, role: .engine, remoteName: "tpu-llm-engine"), .init(path: payload.big, role: .support),
        ])
        var sessions: [SSHSession] = []
        for board in boards { sessions.append(try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))) }
        return DistributionFixture(harness: harness, boards: boards, sessions: sessions, payload: payload, files: manifest.entries)
    }

    var totalBytes: UInt64 { files.reduce(0) { $0 + $1.size } }

    /// The size of the relay agent this host's boards get.
    var agentSize: UInt64 {
        guard case .found(let path) = distributor.agent.path(forArch: EngineSource.hostArch),
              let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return 0 }
        return (attributes[.size] as? NSNumber)?.uint64Value ?? 0
    }

    var distributor: PayloadDistributor {
        PayloadDistributor(agent: .beside(executable: CommandLine.arguments[0], payloadsDirectory: repositoryRoot.appendingPathComponent("Payloads").path))
    }

    func distribute(secret: RolloutSecret = .random(), log: DistributionEventLog,
                    also: @escaping @Sendable (DistributionEvent) -> Void = { _ in },
                    cancelled: @escaping @Sendable () -> Bool = { false }) async -> DistributionReport {
        let targets = zip(boards, sessions).map { DistributionBoard(name: $0.name, session: $1, remoteDir: remoteDir) }
        var distributor = self.distributor
        distributor.cancelled = cancelled
        return await distributor.distribute(files: files, to: targets, secret: secret) { event in
            log.append(event)
            also(event)
        }
    }

    /// Bytes the host itself has sent into the simulator's bridge (what boards send each other crosses the
    /// bridge between its ports and is not counted there).
    func hostBytesOnTheBridge() throws -> UInt64 {
        let bridge = try harness.simulator.layout.record(boards[0].name).network.bridge
        let text = try String(contentsOfFile: "/sys/class/net/\(bridge)/statistics/tx_bytes", encoding: .utf8)
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Every file on `board` has the local file's sha256, under its final name, with nothing temporary left.
    func expectFilesInPlace(on board: SimulatedBoard, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let names = files.map { "\(remoteDir)/\($0.name)" }.joined(separator: " ")
        let sums = try SimulatedBoardHarness.openSSH(board, "sha256sum \(names) | cut -c1-64")
            .split(separator: "\n").map(String.init)
        #expect(sums == files.map(\.sha256), "\(board.name)", sourceLocation: sourceLocation)
        let partials = try SimulatedBoardHarness.openSSH(board, "ls -a \(remoteDir) | grep -c partial || true")
        #expect(partials.hasPrefix("0"), "\(board.name) keeps temporary files", sourceLocation: sourceLocation)
    }

    func close() async {
        for session in sessions { await session.close() }
        payload.remove()
    }
}

private func outcomeCode(_ report: DistributionReport, _ board: String) -> String {
    switch report.outcomes[board] {
    case .ok: return "ok"
    case .failed(let error): return error.code
    case nil: return "missing"
    }
}

@Suite("fleet distribution on simulated boards", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct DistributionTests {
    /// Four boards get every file while the host sends it once: the boards relay it along the chain. Push then
    /// finds every file there and sends nothing.
    @Test func fourBoardsGetTheFilesWhileTheHostSendsThemOnce() async throws {
        try await SimulatedBoardHarness.withBoards(count: 4) { harness, boards in
            let fixture = try await DistributionFixture.make(harness, boards, bigMiB: 24)
            let log = DistributionEventLog()
            let before = try fixture.hostBytesOnTheBridge()
            let report = await fixture.distribute(log: log)
            let onTheBridge = try fixture.hostBytesOnTheBridge() - before

            for board in boards { #expect(outcomeCode(report, board.name) == "ok", "\(String(describing: report.outcomes[board.name]))") }
            for board in boards { try fixture.expectFilesInPlace(on: board) }
            // One copy from the host, counted by the library and, independently, by the host's bridge. The bridge
            // also carries the agents themselves (the native build holds Swift's runtime: MiBs each; the aarch64
            // one is tens of KiB), SSH's framing and the commands: well under a second copy of the files.
            let agents = UInt64(boards.count) * fixture.agentSize
            #expect(report.hostBytesSent == fixture.totalBytes)
            #expect(onTheBridge - min(onTheBridge, agents) < fixture.totalBytes * 5 / 4,
                    "the host sent \(onTheBridge) bytes (\(agents) of them agents) for \(fixture.totalBytes) bytes of files")

            // A second run finds every file and the agents there: the host sends no file byte and no agent.
            let beforeAgain = try fixture.hostBytesOnTheBridge()
            let again = await fixture.distribute(log: DistributionEventLog())
            let onTheBridgeAgain = try fixture.hostBytesOnTheBridge() - beforeAgain
            for board in boards { #expect(outcomeCode(again, board.name) == "ok") }
            #expect(again.hostBytesSent == 0)
            #expect(onTheBridgeAgain < fixture.totalBytes / 10, "\(onTheBridgeAgain) bytes")
            if case .ok(let first) = again.outcomes[boards[0].name] { #expect(first.alreadyThere == fixture.files.map(\.name)) }
            #expect(report.plan?.nodes.map(\.parent) == [nil, boards[0].name, boards[1].name, boards[2].name])
            #expect(report.plan?.fedByHost == [boards[0].name])
            // The last board got its files from the board before it, not from the host.
            if case .ok(let last) = report.outcomes[boards[3].name] {
                #expect(last.bytesFromHost == 0)
                #expect(last.sources[fixture.files[3].name] == [boards[2].name])
            }

            // What push decides from: every file there by the manifest, nothing sent.
            let pusher = DeploymentPusher(profiles: ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles")),
                                          passwordProvider: nil, events: nil)
            let pushed = try await pusher.push(fixture.payload.request(remoteDir: remoteDir, support: [fixture.payload.big]),
                                               session: fixture.sessions[3])
            #expect(pushed.status == .upToDate)
            #expect(pushed.bytesSent == 0)
            // The agents ended with the distribution.
            let running = try SimulatedBoardHarness.openSSH(boards[3], "pgrep -c -f '/tpu-relay[.][^/ ]*/agent \(remoteDir)' || true")
            #expect(running.hasPrefix("0"))
            await fixture.close()
        }
    }

    /// The second board's agent is killed a quarter into the big file: the boards after it continue from the
    /// first board (not the host) from what they have, and get every file; the killed board is failed.
    @Test func aRelayKilledMidTransferDoesNotStallTheBoardsAfterIt() async throws {
        try await SimulatedBoardHarness.withBoards(count: 4) { harness, boards in
            // Slow links, so that the big file is still on its way when the agent is killed.
            for board in boards { try harness.simulator.shapeLink(of: board.name, rateMbit: 40) }
            let fixture = try await DistributionFixture.make(harness, boards, bigMiB: 24)
            let big = fixture.files[3]
            let log = DistributionEventLog()
            let victim = boards[1]
            let killed = KillOnce()
            let report = await fixture.distribute(log: log) { event in
                if case .agentStarted(victim.name, _, _, let pid) = event { killed.pid = pid }
                // The boards after the victim pull from it only, so none of them has more of the file than it.
                if case .progress(victim.name, big.name, let bytes, _) = event, bytes >= big.size / 4, killed.first() {
                    let pid = killed.pid
                    Thread { _ = try? SimulatedBoardHarness.openSSH(victim, "kill -9 \(pid)") }.start()
                }
            }
            #expect(killed.happened)
            #expect(outcomeCode(report, victim.name) == "agent_exited")
            for board in boards where board.name != victim.name {
                #expect(outcomeCode(report, board.name) == "ok", "\(board.name): \(String(describing: report.outcomes[board.name]))")
                try fixture.expectFilesInPlace(on: board)
            }
            let events = log.all
            // The third board lost the victim mid-file and continued from the first board where it stopped.
            let lost = events.compactMap { event -> UInt64? in
                if case .sourceLost(boards[2].name, big.name, victim.name, let offset, _) = event { return offset }
                return nil
            }
            #expect(lost.count == 1)
            #expect(lost.first.map { $0 > 0 && $0 < big.size } == true)
            #expect(events.contains(.source(board: boards[2].name, file: big.name, from: boards[0].name, offset: lost.first ?? 0)))
            // The host still sent one copy: nobody fell back to it.
            #expect(report.hostBytesSent == fixture.totalBytes)
            await fixture.close()
        }
    }

    /// Stopped (a rollout's second Ctrl-C) a quarter into the big file: every board ends `interrupted` at once,
    /// keeps what it received as `NAME.partial`, and the next distribution resumes it.
    @Test func aStoppedDistributionEndsEveryAgentAndTheNextOneResumes() async throws {
        try await SimulatedBoardHarness.withBoards(count: 3) { harness, boards in
            for board in boards { try harness.simulator.shapeLink(of: board.name, rateMbit: 40) }
            let fixture = try await DistributionFixture.make(harness, boards, bigMiB: 24)
            let big = fixture.files[3]
            let stop = KillOnce()
            let report = await fixture.distribute(log: DistributionEventLog(), also: { event in
                if case .progress(_, big.name, let bytes, _) = event, bytes >= big.size / 4 { _ = stop.first() }
            }, cancelled: { stop.happened })
            #expect(stop.happened)
            for board in boards { #expect(outcomeCode(report, board.name) == "interrupted", "\(String(describing: report.outcomes[board.name]))") }
            let kept = try SimulatedBoardHarness.openSSH(boards[0], "stat -c %s \(remoteDir)/\(big.name).partial")
            let keptBytes = UInt64(kept.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(keptBytes > 0 && keptBytes < big.size, "\(kept)")

            // Again, to the end: the first board resumes what it kept, so the host sends less than a copy.
            let log = DistributionEventLog()
            for board in boards { try harness.simulator.shapeLink(of: board.name, rateMbit: nil) }
            let again = await fixture.distribute(log: log)
            for board in boards {
                #expect(outcomeCode(again, board.name) == "ok", "\(String(describing: again.outcomes[board.name]))")
                try fixture.expectFilesInPlace(on: board)
            }
            #expect(log.all.contains { if case .kept(boards[0].name, big.name, let bytes) = $0 { return bytes > 0 }; return false })
            #expect(again.hostBytesSent < fixture.totalBytes)
            await fixture.close()
        }
    }

    /// An agent refuses a connection that proves the wrong secret (and says so), and serves one with the right
    /// one: the check is made against a running agent while the distribution waits for it.
    @Test func aConnectionWithTheWrongSecretIsRefused() async throws {
        try await SimulatedBoardHarness.withBoards(count: 2) { harness, boards in
            let fixture = try await DistributionFixture.make(harness, boards, bigMiB: 1)
            let secret = RolloutSecret.random()
            let answers = AgentAnswers()
            let log = DistributionEventLog()
            let report = await fixture.distribute(secret: secret, log: log) { event in
                // Blocking here holds this board's preparation; its agent runs on the board and answers by itself.
                guard case .agentStarted(boards[1].name, let address, let port, _) = event else { return }
                answers.wrong = RelayRequest.ask(address: address, port: port, secret: "not-the-rollout-secret-at-all")
                answers.right = RelayRequest.ask(address: address, port: port, secret: secret.token)
            }
            #expect(answers.wrong?.hasPrefix("ERR") == true, "\(answers.wrong ?? "no answer")")
            #expect(answers.right == "OK \(fixture.files[0].size)", "\(answers.right ?? "no answer")")
            for board in boards { #expect(outcomeCode(report, board.name) == "ok") }
            // The host heard of the refusal, from the board that refused.
            let refusals = log.all.compactMap { event -> String? in if case .refused(boards[1].name, _, let reason) = event { return reason }; return nil }
            #expect(refusals == ["wrong secret"])
            await fixture.close()
        }
    }

    /// Boards that cannot reach each other (a switch isolating its ports) each get the files from the host,
    /// which says so before it starts.
    @Test func whenBoardsCannotReachEachOtherTheHostSendsToEach() async throws {
        try await SimulatedBoardHarness.withBoards(count: 3) { harness, boards in
            for board in boards {
                let record = try harness.simulator.layout.record(board.name)
                for peer in boards where peer.name != board.name {
                    try CommandRunner.run("ip", ["-n", record.network.namespace(board: board.name), "route", "add", "unreachable", "\(peer.host)/32"])
                }
            }
            let fixture = try await DistributionFixture.make(harness, boards, bigMiB: 4)
            let log = DistributionEventLog()
            let report = await fixture.distribute(log: log)
            for board in boards {
                #expect(outcomeCode(report, board.name) == "ok")
                try fixture.expectFilesInPlace(on: board)
            }
            #expect(report.plan?.fedByHost == boards.map(\.name))
            #expect(report.hostBytesSent == fixture.totalBytes * 3)
            let events = log.all
            let told = events.compactMap { event -> String? in if case .hostSends(let board, let reason) = event, reason.contains("reaches none") { return board }; return nil }
            #expect(told == [boards[1].name, boards[2].name])
            #expect(events.contains { if case .unreachable(boards[2].name, boards[1].name, _) = $0 { return true }; return false })
            await fixture.close()
        }
    }
}

/// Kills once, from whichever task sees the moment first.
final class KillOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    var pid = 0
    func first() -> Bool { lock.lock(); defer { lock.unlock() }; if done { return false }; done = true; return true }
    var happened: Bool { lock.lock(); defer { lock.unlock() }; return done }
}

final class AgentAnswers: @unchecked Sendable {
    var wrong: String?
    var right: String?
}

/// A downstream's first request to a relay agent, spoken from the host: banner, `GET 0 0 MAC`, the answer's line.
enum RelayRequest {
    static func ask(address: String, port: Int, secret: String, file: Int = 0) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &sa.sin_addr)
        let connected = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0, let banner = readLine(fd), banner.hasPrefix("TPUR1 ") else { return nil }
        let nonce = String(banner.dropFirst(6))
        let mac = Digest.hex(hmacSHA256(key: Array(secret.utf8), message: Array("tpu-relay/1 \(nonce) GET \(file) 0".utf8)))
        let request = Array("GET \(file) 0 \(mac)\n".utf8)
        guard write(fd, request, request.count) == request.count else { return nil }
        return readLine(fd)
    }

    private static func readLine(_ fd: Int32) -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }

    /// RFC 2104 over the library's SHA-256: an implementation independent of the agent's C one.
    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? Digest.sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = Digest.sha256(block.map { $0 ^ 0x36 } + message)
        return Digest.sha256(block.map { $0 ^ 0x5C } + inner)
    }
}
