import Foundation

/// True the first time only, across threads: a fault injected from a progress callback (a cut connection, a
/// filled disk, a corrupted byte) must happen once, whichever thread reports first.
public final class FireOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false

    public init() {}

    public func first() -> Bool {
        lock.withLock {
            if fired { return false }
            fired = true
            return true
        }
    }
}
