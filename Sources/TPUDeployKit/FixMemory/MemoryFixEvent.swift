/// What `fix-memory` is doing, for progress displays. The library reports; the front end decides how to show.
public enum MemoryFixEvent: Sendable, Equatable {
    /// A step begins ("reading /boot/emmcboot.itb").
    case step(String)
    /// Bytes moved so far in a transfer.
    case transfer(what: String, done: Int, total: Int)
    /// Waiting for the board: seconds waited of at most `limit`.
    case waiting(what: String, seconds: Int, limit: Int)
    /// The board's boot image is about to be replaced: from here until `.bootImageReplaced` (or an error)
    /// stopping would leave unknown which image /boot holds. Until this event nothing on the board changed.
    case replacingBootImage
    /// The new boot image is in place (checked); `bootBackup`/`dataBackup` hold the one it replaced (nil when
    /// that one was damaged and not kept).
    case bootImageReplaced(bootBackup: String?, dataBackup: String?)
}

public typealias MemoryFixEvents = @Sendable (MemoryFixEvent) -> Void
