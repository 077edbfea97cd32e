/// Who each board pulls the files from: pipelined chains fed by the host, each board relaying to the next while
/// it receives, so N boards take about as long as one and the host sends each file once per chain.
///
/// The plan is made in two steps, both pure: `candidates` says which boards each board must be able to reach
/// (the few before it in its chain, its first source and the ones it would fall back to); `make` builds the
/// chains from what those checks found. A board that reaches none of its candidates heads a chain of its own,
/// fed by the host: when no board reaches another, that is the host sending to each board.
public struct DistributionPlan: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var board: String
        /// Where the board pulls from, nearest first: its parent, then that board's own sources it reaches.
        /// After them, always the host. Empty: the host sends to this board from the start.
        public var sources: [String]
        public var parent: String? { sources.first }
    }

    /// Boards the host sends to that reach no board before them, with the boards they could not reach.
    public struct Fallback: Sendable, Equatable {
        public var board: String
        public var unreachable: [String]
    }

    /// In the boards' order.
    public var nodes: [Node]
    public var fallbacks: [Fallback]

    /// How many boards before it in its chain a board checks and may fall back to.
    public static let depth = 3

    /// The boards' order split into `chains` chains of near-equal length (each fed by the host).
    public static func chains(_ boards: [String], count: Int) -> [[String]] {
        let count = max(1, min(count, boards.count))
        guard !boards.isEmpty else { return [] }
        var result: [[String]] = []
        var start = 0
        for index in 0..<count {
            let length = boards.count / count + (index < boards.count % count ? 1 : 0)
            result.append(Array(boards[start..<(start + length)]))
            start += length
        }
        return result
    }

    /// For each board, the boards it must check it reaches: up to `depth` before it in its chain, nearest first.
    public static func candidates(_ boards: [String], chains count: Int) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for chain in chains(boards, count: count) {
            for (position, board) in chain.enumerated() {
                result[board] = chain[max(0, position - depth)..<position].reversed()
            }
        }
        return result
    }

    /// The plan, given whether `board` reaches `peer` (`reaches(board, peer)`) for the pairs `candidates` named.
    /// Each board pulls from the nearest candidate it reaches that is already part of its chain's tree; its
    /// further sources are that board's ancestors it also reaches.
    public static func make(_ boards: [String], chains count: Int, reaches: (String, String) -> Bool) -> DistributionPlan {
        var sources: [String: [String]] = [:]
        var fallbacks: [Fallback] = []
        let candidates = candidates(boards, chains: count)
        for board in boards {
            let mine = candidates[board] ?? []
            guard let parent = mine.first(where: { reaches(board, $0) }) else {
                sources[board] = []
                if !mine.isEmpty { fallbacks.append(Fallback(board: board, unreachable: mine)) }
                continue
            }
            // The parent's ancestors are ahead of the parent (each relays what it has), so any of them can
            // continue where the parent stopped.
            var list = [parent]
            for ancestor in sources[parent] ?? [] where list.count < depth && mine.contains(ancestor) && reaches(board, ancestor) {
                list.append(ancestor)
            }
            sources[board] = list
        }
        return DistributionPlan(nodes: boards.map { Node(board: $0, sources: sources[$0] ?? []) }, fallbacks: fallbacks)
    }

    /// The boards the host sends to from the start.
    public var fedByHost: [String] { nodes.filter { $0.sources.isEmpty }.map(\.board) }

    public func node(_ board: String) -> Node? { nodes.first { $0.board == board } }
}
