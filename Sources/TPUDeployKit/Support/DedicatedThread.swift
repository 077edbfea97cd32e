import Foundation

/// Runs blocking work — a socket read, a semaphore wait — on a thread of its own that ends with the call.
///
/// Swift's cooperative pool has one thread per core (two on the build machine): a blocking call there stalls
/// every task of the process, and a few of them at once deadlock it. `Task.detached` does not help (it runs on
/// the same pool). A thread per call costs tens of microseconds, nothing next to the network waits it carries.
public enum DedicatedThread {
    public static func run<T: Sendable>(_ name: String = "tpudeploy.blocking",
                                        _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.name = name
            thread.start()
        }
    }

    public static func run<T: Sendable>(_ name: String = "tpudeploy.blocking", _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.name = name
            thread.start()
        }
    }
}
