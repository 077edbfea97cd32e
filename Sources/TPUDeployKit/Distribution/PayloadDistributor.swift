import Foundation

/// Sends a payload's files to many boards with the host sending each file about once: the boards relay to each
/// other over the LAN while they receive (`DistributionPlan`'s pipelined chains), so N boards take about as
/// long as one. Each board's relay agent (`Sources/tpu-relay-agent`) writes `NAME.partial` in the deployment
/// directory, hashes the whole file and renames it into place only when its sha256 matches; the host then
/// records it in the directory's manifest, so that `tpudeploy push` afterwards finds it there and sends nothing.
///
/// A relay board that dies mid-transfer does not stall the boards after it: they continue from the boards
/// before it, or the host, from the bytes they have. Boards that reach none of the boards before them are sent
/// to by the host (a `hostSends` event says so). Board-to-board transfers need the rollout's secret.
public struct PayloadDistributor: Sendable {
    public var agent: RelayAgentSource
    /// Chains fed by the host: the host sends this many copies. One is the least the host can send.
    public var chains = 1
    /// An agent with no traffic for this long exits (the host vanished without closing its channel).
    public var idleSeconds = 300
    /// The size of one chunk the host sends an agent.
    public var frameBytes = 1 << 20
    /// Asked between steps: true stops the distribution (a rollout's second Ctrl-C). Every agent is told to end
    /// (its input closes and it exits); each board keeps its `NAME.partial` files, which the next distribution
    /// or push resumes, and the boards without every file end `interrupted`.
    public var cancelled: @Sendable () -> Bool = { false }

    public init(agent: RelayAgentSource) { self.agent = agent }

    /// Distributes `files` (with their sha256, as `PayloadManifest.build` makes them) to `boards`, each into its
    /// own deployment directory, and returns each board's outcome (by board name) and the bytes the host sent.
    /// `onEvent` is called from several tasks at once, as things happen.
    public func distribute(files: [PayloadEntry], to boards: [DistributionBoard], secret: RolloutSecret,
                           onEvent: @escaping @Sendable (DistributionEvent) -> Void = { _ in }) async -> DistributionReport {
        let started = Date()
        var outcomes: [String: DistributionOutcome] = [:]
        func finish(_ board: String, _ outcome: DistributionOutcome) {
            outcomes[board] = outcome
            onEvent(.finished(board: board, outcome: outcome))
        }
        if let problem = Self.problem(with: files) {
            for board in boards { finish(board.name, .failed(.preparationFailed(board: board.name, code: "invalid_payload", message: problem))) }
            return DistributionReport(outcomes: outcomes, hostBytesSent: 0, plan: nil, seconds: Date().timeIntervalSince(started))
        }

        // 1. Every board readied at once; a board that cannot be is out of the plan.
        let prepared = await withTaskGroup(of: (Int, Result<RelayBoard, DistributionError>).self) { group in
            for (index, board) in boards.enumerated() {
                group.addTask { (index, await self.prepare(board, files: files, secret: secret, onEvent: onEvent)) }
            }
            var results: [(Int, Result<RelayBoard, DistributionError>)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var relays: [RelayBoard] = []
        for (board, result) in zip(boards, prepared) {
            switch result {
            case .success(let relay): relays.append(relay)
            case .failure(let error): finish(board.name, .failed(error))
            }
        }

        if cancelled() {
            for relay in relays {
                await relay.finish()
                finish(relay.name, .failed(.interrupted(board: relay.name)))
            }
            return DistributionReport(outcomes: outcomes, hostBytesSent: 0, plan: nil, seconds: Date().timeIntervalSince(started))
        }

        // 2. Which boards reach which, then the chains.
        let plan = await self.plan(relays, onEvent: onEvent)
        onEvent(.planned(plan))
        for node in plan.nodes where node.sources.isEmpty {
            let fallback = plan.fallbacks.first { $0.board == node.board }
            onEvent(.hostSends(board: node.board, reason: fallback.map { "it reaches none of \($0.unreachable.joined(separator: ", ")), the boards before it" }
                ?? "it heads a chain"))
        }

        // 3. Every agent learns its sources and runs; the host feeds those that ask.
        let byEndpoint = Dictionary(relays.map { ($0.endpoint, $0.name) }, uniquingKeysWith: { first, _ in first })
        let byName = Dictionary(relays.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let finished = FinishedBoards(count: relays.count)
        await withTaskGroup(of: Void.self) { group in
            for relay in relays {
                let sources = plan.node(relay.name)?.sources.compactMap { byName[$0]?.endpoint } ?? []
                group.addTask {
                    await self.run(relay, sources: sources, files: files, names: byEndpoint, finished: finished, onEvent: onEvent)
                }
            }
        }
        var hostBytes: UInt64 = 0
        for relay in relays {
            hostBytes += relay.bytesFromHost
            // `run` reported each board's end as it happened.
            outcomes[relay.name] = relay.outcome ?? .failed(.agentExited(board: relay.name, output: relay.strayOutput))
        }
        return DistributionReport(outcomes: outcomes, hostBytesSent: hostBytes, plan: plan, seconds: Date().timeIntervalSince(started))
    }

    /// Why `files` cannot be distributed: a file without its hash or with a name not allowed on a board.
    static func problem(with files: [PayloadEntry]) -> String? {
        if files.isEmpty { return "no files to distribute" }
        if files.count > 64 { return "at most 64 files at once, not \(files.count)" }
        for file in files {
            if file.hashPending { return "\(file.localPath) has no sha256 yet (build the payload without hashLater)" }
            if let problem = BoardNames.fileNameProblem(file.name) { return "\(file.name): \(problem)" }
        }
        return nil
    }

    /// Checks the pairs the plan needs (each agent connects to the boards it would pull from) and plans.
    func plan(_ relays: [RelayBoard], onEvent: @escaping @Sendable (DistributionEvent) -> Void) async -> DistributionPlan {
        let names = relays.map(\.name)
        let candidates = DistributionPlan.candidates(names, chains: chains)
        let byName = Dictionary(relays.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let reached = await withTaskGroup(of: [String].self) { group in
            for relay in relays {
                let peers = candidates[relay.name] ?? []
                guard !peers.isEmpty else { continue }
                group.addTask {
                    let endpoints = peers.compactMap { byName[$0]?.endpoint }
                    var ok: [String] = []
                    do {
                        try await relay.channel.send(line: "P " + endpoints.joined(separator: " "))
                        _ = try await relay.await(seconds: 30) { if case .probed = $0 { return true }; return false }
                    } catch {
                        return []
                    }
                    var remaining: [String] = []
                    for line in relay.backlog {
                        guard case .reach(let peer, let reachable, let reason) = RelayAgentLine(line) else { remaining.append(line); continue }
                        let peerName = relays.first { $0.endpoint == peer }?.name ?? peer
                        if reachable { ok.append(relay.name + "\u{0}" + peerName) } else { onEvent(.unreachable(board: relay.name, peer: peerName, reason: reason)) }
                    }
                    relay.backlog = remaining
                    return ok
                }
            }
            var all = Set<String>()
            for await pairs in group { all.formUnion(pairs) }
            return all
        }
        return DistributionPlan.make(names, chains: chains) { reached.contains($0 + "\u{0}" + $1) }
    }
}

/// How many boards are finished, so that every agent keeps serving until the last board has its files.
actor FinishedBoards {
    private let count: Int
    private var finished = 0

    init(count: Int) { self.count = count }

    func finish() { finished += 1 }
    var all: Bool { finished >= count }
}
