import Foundation

/// At most `limit` holders at once; the others wait in arrival order, suspended (no thread is blocked). The
/// rollout's caps on transfers and reboots within `--parallel`.
final class RolloutSlots: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private var held = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// nil or a limit of at least `parallel` caps nothing beyond `--parallel`.
    init(limit: Int) { self.limit = max(1, limit) }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if held < limit { held += 1; return true }
                waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the slot to the first waiter, or frees it.
    func release() {
        let next = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if waiting.isEmpty { held -= 1; return nil }
            return waiting.removeFirst()
        }
        next?.resume()
    }
}

/// The caps of one run: boards transferring files from this host (`push`), and boards changing their boot image
/// and rebooting (`fix_memory` through `reboot`), each within `--parallel`.
struct RolloutPhaseLimits: Sendable {
    let transfers: RolloutSlots
    let reboots: RolloutSlots

    init(plan: RolloutPlan) {
        transfers = RolloutSlots(limit: plan.maxTransfers ?? plan.parallel)
        reboots = RolloutSlots(limit: plan.maxReboots ?? plan.parallel)
    }
}
