/// What `push` is doing, for progress displays. The library reports; the front end decides how to show.
public enum PushEvent: Sendable, Equatable {
    /// A step begins ("inspecting the board").
    case step(String)
    /// Local hashing progress over all files.
    case hashing(done: UInt64, total: UInt64)
    /// A file will be sent from `resumeFrom` on (0 = from the start), or is skipped as already on the board.
    case fileStarted(name: String, size: UInt64, resumeFrom: UInt64, skipped: Bool)
    /// Bytes acknowledged by the board: of this file, and of everything this push sends.
    case progress(name: String, fileDone: UInt64, fileSize: UInt64, totalDone: UInt64, totalBytes: UInt64)
    /// The board is about to hash the temporary file `partialPath`.
    case verifying(name: String, partialPath: String)
    /// The board's hash did not match; the file is sent again from the start.
    case resending(name: String, reason: String)
    /// The file is verified and under its final name.
    case fileDone(name: String)
}

public typealias PushEvents = @Sendable (PushEvent) -> Void
