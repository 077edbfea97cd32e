import Foundation

/// Waits at most `seconds` for `operation`, and returns nil when it has not answered by then. The operation
/// goes on in the background until it ends by itself: a libssh call blocked on a cut cable cannot be cancelled,
/// but whoever waits for it need not wait for its own, longer, deadline.
func answer<T: Sendable>(within seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T?, Error>) in
        let first = FirstResult(continuation)
        Task { do { first.resume(with: .success(try await operation())) } catch { first.resume(with: .failure(error)) } }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
            first.resume(with: .success(nil))
        }
    }
}

/// Resumes a continuation with the first result given, and ignores the rest.
private final class FirstResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T?, Error>?

    init(_ continuation: CheckedContinuation<T?, Error>) { self.continuation = continuation }

    func resume(with result: Result<T?, Error>) {
        let waiting = lock.withLock { () -> CheckedContinuation<T?, Error>? in
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume(with: result)
    }
}
