import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// tpudeploy's side of the distribution benchmark: the library's `PayloadDistributor` (boards relaying the file
/// to each other while they receive it) sending the payload to every board's `directory`, timed from connecting
/// to the boards to the last board's verified rename.
///
/// A simulated board runs the native build of the relay agent, which carries Swift's runtime (MiBs; the boards'
/// aarch64 build is tens of KiB), so a first distribution to a fresh board would mostly measure sending agents.
/// A small warm-up distribution installs them first (measured and reported apart); a real rollout's first run
/// pays for the aarch64 agent only.
struct RelayMeasurement {
    var seconds: Double
    var hostBytesOnTheBridge: UInt64
    /// File bytes the host sent, as the distributor counts them.
    var reportedHostFileBytes: UInt64
    var boardsOK: Int
    var boardsTheHostSentTo: [String]
    var agentInstall: String
}

func measureRelayDistribution(tpudeploy: String, simulator: Simulator, boards: [SimulatedBoard], payload: String,
                              directory remoteDir: String, scratch: URL) async throws -> RelayMeasurement {
    let distributor = PayloadDistributor(agent: .beside(executable: tpudeploy, payloadsDirectory: "Payloads"))
    if case .missing(let searched) = distributor.agent.path(forArch: EngineSource.hostArch) {
        throw BenchmarkError(description: "no relay agent build (looked at \(searched.joined(separator: ", "))): build tpu-relay-agent")
    }
    func connect() async throws -> [SSHSession] {
        var sessions: [SSHSession] = []
        for board in boards {
            sessions.append(try await SSHSession.connect(to: SSHTarget(
                host: board.host, port: board.port, user: "root", identityFile: board.identityFile,
                knownHostsFile: board.knownHostsFile, sshConfigFile: "none")))
        }
        return sessions
    }
    func distribute(_ path: String, sessions: [SSHSession], hostSends: HostSendsLog) async throws -> DistributionReport {
        let files = try PayloadManifest.build([.init(path: path, role: .support)]).entries
        let targets = zip(boards, sessions).map { DistributionBoard(name: $0.name, session: $1, remoteDir: remoteDir) }
        return await distributor.distribute(files: files, to: targets, secret: .random()) { event in
            if case .hostSends(let board, _) = event { hostSends.add(board) }
        }
    }
    func failures(_ report: DistributionReport) -> String {
        report.outcomes.compactMap { name, outcome in outcome.error.map { "\(name): \($0.code)" } }.sorted().joined(separator: ", ")
    }

    // Warm-up: a 1 MiB file, which leaves each board its agent.
    let warmUp = scratch.appendingPathComponent("relay-warm-up.bin").path
    try runProcess("/bin/sh", ["-c", "head -c 1048576 /dev/urandom > \"$1\"", "sh", warmUp])
    defer { try? FileManager.default.removeItem(atPath: warmUp) }
    let warmBefore = try simulator.hostSentBytes()
    let warmStart = DispatchTime.now().uptimeNanoseconds
    var sessions = try await connect()
    let warm = try await distribute(warmUp, sessions: sessions, hostSends: HostSendsLog())
    for session in sessions { await session.close() }
    let warmSeconds = Double(DispatchTime.now().uptimeNanoseconds - warmStart) / 1e9
    let warmBytes = try simulator.hostSentBytes() - warmBefore
    guard warm.outcomes.values.allSatisfy(\.isOK), warm.outcomes.count == boards.count else {
        throw BenchmarkError(description: "the warm-up distribution failed: \(failures(warm))")
    }

    // The measured distribution: new sessions, as a rollout of its own would open them.
    let hostSends = HostSendsLog()
    let before = try simulator.hostSentBytes()
    let start = DispatchTime.now().uptimeNanoseconds
    sessions = try await connect()
    let report = try await distribute(payload, sessions: sessions, hostSends: hostSends)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let sent = try simulator.hostSentBytes() - before
    for session in sessions { await session.close() }
    let ok = report.outcomes.values.filter(\.isOK).count
    guard ok == boards.count else { throw BenchmarkError(description: "the relay distribution failed on some boards: \(failures(report))") }
    return RelayMeasurement(
        seconds: seconds, hostBytesOnTheBridge: sent, reportedHostFileBytes: report.hostBytesSent, boardsOK: ok,
        boardsTheHostSentTo: hostSends.boards,
        agentInstall: String(format: "a 1 MiB warm-up distribution installed the agents first: %.1f s, %.1f MiB from the host", warmSeconds, Double(warmBytes) / Double(1 << 20)))
}

/// Boards the host fed itself, collected from the distributor's tasks.
final class HostSendsLog: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [String] = []
    func add(_ board: String) { lock.withLock { names.append(board) } }
    var boards: [String] { lock.withLock { names.sorted() } }
}
