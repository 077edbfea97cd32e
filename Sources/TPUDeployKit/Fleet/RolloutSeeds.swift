import Foundation

/// Boards that ended well in a run that relays, kept open to head the relay of the batches after theirs: they
/// hold the payload, so the host sends each file about once per run instead of once per batch (the canary's
/// batch and the next one would otherwise cost two copies). At most `keeps` boards are kept; their sessions
/// are closed when the run ends.
final class RolloutSeeds: @unchecked Sendable {
    private let lock = NSLock()
    private let keeps: Int
    private var boards: [RolloutDistributionTarget] = []

    init(keeps: Int) { self.keeps = keeps }

    /// Keeps `board` as a seed while there is room; true when it was kept (its session then stays open).
    func offer(_ board: RolloutDistributionTarget) -> Bool {
        lock.withLock {
            guard boards.count < keeps else { return false }
            boards.append(board)
            return true
        }
    }

    var kept: [RolloutDistributionTarget] { lock.withLock { boards } }

    func closeAll() async {
        let all = lock.withLock { () -> [RolloutDistributionTarget] in
            defer { boards = [] }
            return boards
        }
        for board in all { await board.work.close() }
    }
}
