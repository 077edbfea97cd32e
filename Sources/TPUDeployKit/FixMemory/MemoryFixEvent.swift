/// What `fix-memory` is doing, for progress displays. The library reports; the front end decides how to show.
public enum MemoryFixEvent: Sendable, Equatable {
    /// A step begins ("reading /boot/emmcboot.itb").
    case step(String)
    /// Bytes moved so far in a transfer.
    case transfer(what: String, done: Int, total: Int)
    /// Waiting for the board: seconds waited of at most `limit`.
    case waiting(what: String, seconds: Int, limit: Int)
}

public typealias MemoryFixEvents = @Sendable (MemoryFixEvent) -> Void
