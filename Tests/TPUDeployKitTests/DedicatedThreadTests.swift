import Foundation
import Testing
@testable import TPUDeployKit

/// Blocking work handed to `DedicatedThread` runs beside the cooperative pool, not on it: more blocking calls at
/// once than the pool has threads all make progress together.
@Suite("blocking work off the cooperative pool")
struct DedicatedThreadTests {
    /// Releases its waiters once `count` of them have arrived; a waiter gives up after `seconds` (then false).
    final class Barrier: @unchecked Sendable {
        private let condition = NSCondition()
        private var waiting = 0
        private let count: Int

        init(_ count: Int) { self.count = count }

        func arriveAndWait(seconds: Double) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            waiting += 1
            condition.broadcast()
            let deadline = Date().addingTimeInterval(seconds)
            while waiting < count {
                if !condition.wait(until: deadline) { return waiting >= count }
            }
            return true
        }
    }

    @Test func moreBlockingCallsThanThePoolHasThreadsRunTogether() async {
        // On the pool (Task.detached included) only as many as it has threads could wait at once: the barrier
        // would never fill and every waiter would give up.
        let width = 4 * max(2, ProcessInfo.processInfo.activeProcessorCount)
        let barrier = Barrier(width)
        let released = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<width { group.addTask { await DedicatedThread.run { barrier.arriveAndWait(seconds: 10) } } }
            var all: [Bool] = []
            for await one in group { all.append(one) }
            return all
        }
        #expect(released.count == width)
        #expect(released.allSatisfy { $0 })
    }

    @Test func resultsAndErrorsCrossTheThread() async throws {
        #expect(try await DedicatedThread.run("tpudeploy.test") { () throws -> Int in 42 } == 42)
        await #expect(throws: HTTPError.timedOut(seconds: 1)) {
            try await DedicatedThread.run { () throws -> Int in throw HTTPError.timedOut(seconds: 1) }
        }
    }
}
