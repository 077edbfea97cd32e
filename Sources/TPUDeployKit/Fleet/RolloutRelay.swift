import Foundation

/// How a rollout relays its payload between the boards of a batch (`PayloadDistributor`): the agent to run on
/// them and the run's secret, made once for the run. Without it (`--no-relay`) each board's push sends from
/// this host.
public struct RolloutRelay: Sendable {
    public var agent: RelayAgentSource
    /// Random per run; the agents get it on their standard input, never on a command line.
    public var secret: RolloutSecret
    /// Chains fed by the host within a batch (the host sends this many copies).
    public var chains = 1

    public init(agent: RelayAgentSource, secret: RolloutSecret = .random()) {
        self.agent = agent
        self.secret = secret
    }
}

extension LiveRolloutSteps {
    public var distributes: Bool { relay != nil }

    /// Relays the payload among a batch's boards that lack files, over the sessions their inspection used:
    /// boards of one architecture together (each gets the files its push would send, hashed once for the run).
    /// The second Ctrl-C stops it; each board keeps what it received, and its push resumes it.
    public func distribute(_ boards: [RolloutDistributionTarget], seeds: [RolloutDistributionTarget], control: RolloutControl,
                           progress: @escaping @Sendable (String, RolloutProgress) -> Void) async -> RolloutDistributionReport {
        var report = RolloutDistributionReport()
        guard let relay else { return report }
        let seedBoards = seeds.compactMap { seed in (seed.work as? LiveRolloutBoard).map { (seed, $0) } }
        var byArch: [String: [(RolloutDistributionTarget, LiveRolloutBoard)]] = [:]
        var archOrder: [String] = []
        for target in boards {
            guard let live = target.work as? LiveRolloutBoard else {
                report.outcomes[target.board.name] = .failed(FleetBoardError(code: "not_distributed", message: "\(target.board.name) has no relay session"))
                continue
            }
            let arch = live.arch ?? EngineSource.hostArch
            if byArch[arch] == nil { archOrder.append(arch) }
            byArch[arch, default: []].append((target, live))
        }
        for arch in archOrder {
            let group = byArch[arch] ?? []
            let payload: PayloadManifest
            do {
                payload = try await deployment.payload(forArch: arch)
            } catch {
                for (target, _) in group {
                    report.outcomes[target.board.name] = .failed(FleetBoardError(code: "invalid_payload", message: "\(error)"))
                }
                continue
            }
            var distributor = PayloadDistributor(agent: relay.agent)
            distributor.chains = relay.chains
            distributor.cancelled = { control.cancelsTransfers }
            let watch = RelayProgress(files: payload.entries, report: progress)
            // Seeds of this architecture go first: they head the chain and the host has nothing to send them.
            let heads = seedBoards.filter { ($0.1.arch ?? EngineSource.hostArch) == arch }
            let result = await distributor.distribute(
                files: payload.entries,
                to: (heads + group).map { DistributionBoard(name: $0.0.board.name, session: $0.1.session, remoteDir: deployment.reference.remoteDir) },
                secret: relay.secret, onEvent: watch.handle)
            report.hostBytesSent += result.hostBytesSent
            for (target, _) in group {
                switch result.outcomes[target.board.name] {
                case .ok(let board): report.outcomes[target.board.name] = .ok(Self.describe(board))
                case .failed(let error): report.outcomes[target.board.name] = .failed(FleetBoardError(code: error.code, message: error.description))
                case nil: report.outcomes[target.board.name] = .failed(FleetBoardError(code: "not_distributed", message: "the distribution did not report on \(target.board.name)"))
                }
            }
        }
        return report
    }

    /// "3 files from evb1 (0 B from this host)", "2 files already there, 1 from the host (12 MiB)".
    static func describe(_ board: DistributedBoard) -> String {
        var parts: [String] = []
        if !board.alreadyThere.isEmpty { parts.append("\(board.alreadyThere.count) files already there") }
        let from = Set(board.sources.values.compactMap(\.last)).sorted()
        if !board.sources.isEmpty {
            parts.append("\(board.sources.count) files from \(from.joined(separator: ", "))")
        }
        parts.append("\(ByteCount.human(board.bytesFromHost)) from this host")
        return parts.joined(separator: ", ")
    }
}

/// Turns a distribution's events into each board's progress: bytes received over the files it lacks (at most
/// once a second a board), and where its files come from when the host has to send them.
final class RelayProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let sizes: [String: UInt64]
    private let report: @Sendable (String, RolloutProgress) -> Void
    private var received: [String: [String: UInt64]] = [:]
    private var throttles: [String: ProgressThrottle] = [:]

    init(files: [PayloadEntry], report: @escaping @Sendable (String, RolloutProgress) -> Void) {
        sizes = Dictionary(files.map { ($0.name, $0.size) }, uniquingKeysWith: { first, _ in first })
        self.report = report
    }

    func handle(_ event: DistributionEvent) {
        switch event {
        case .progress(let board, let file, let bytes, _):
            progress(board, file: file, bytes: bytes, final: false)
        case .installed(let board, let file):
            progress(board, file: file, bytes: sizes[file] ?? 0, final: true)
        case .kept(let board, let file, let bytes):
            report(board, RolloutProgress(detail: "resumes \(file) from \(ByteCount.human(bytes)) kept"))
        case .hostSends(let board, let reason):
            report(board, RolloutProgress(detail: "this host sends to it: \(reason)"))
        case .sourceLost(let board, let file, let from, let offset, let reason):
            report(board, RolloutProgress(detail: "\(file): \(from) was lost at \(ByteCount.human(offset)) (\(reason)); continuing from the next source"))
        default:
            break
        }
    }

    private func progress(_ board: String, file: String, bytes: UInt64, final: Bool) {
        let (done, throttle) = lock.withLock { () -> (UInt64, ProgressThrottle) in
            received[board, default: [:]][file] = bytes
            let throttle = throttles[board] ?? ProgressThrottle()
            throttles[board] = throttle
            return (received[board, default: [:]].values.reduce(0, +), throttle)
        }
        if throttle.due(final) { report(board, RolloutProgress(bytesDone: done)) }
    }
}
