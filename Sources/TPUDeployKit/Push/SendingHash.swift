/// The SHA-256 of a file taken from the chunks an upload reads to send it, so that a file the board does not
/// have is read once, not once to hash and again to send.
///
/// Unchecked Sendable: the upload feeds it on the connection's queue, and `finish` is called after the
/// upload has returned.
final class SendingHash: @unchecked Sendable {
    private let digest = StreamingDigest(.sha256)
    private(set) var bytes: UInt64 = 0

    func add(_ chunk: UnsafeRawBufferPointer) {
        digest.update(chunk)
        bytes += UInt64(chunk.count)
    }

    /// Lower-case hex, as `sha256sum` prints it.
    func finish() -> String { Digest.hex(digest.finish()) }
}
