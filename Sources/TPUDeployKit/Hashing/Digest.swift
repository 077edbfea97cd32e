import CLibCrypto

/// A hash computed incrementally, for files too large to hold in memory at once.
///
/// The one wrapper around OpenSSL's EVP digests and zlib's CRC-32: it owns the EVP context and frees it.
public final class StreamingDigest {
    public enum Algorithm: Sendable { case sha1, sha256 }

    private let context: OpaquePointer

    public init(_ algorithm: Algorithm) {
        // EVP_MD_CTX_new only fails when memory is exhausted, which no caller could handle better.
        context = EVP_MD_CTX_new()!
        let md = algorithm == .sha1 ? EVP_sha1() : EVP_sha256()
        EVP_DigestInit_ex(context, md, nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public func finish() -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &output, &length)
        return Array(output.prefix(Int(length)))
    }
}

/// One-shot digests of bytes in memory.
public enum Digest {
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { oneShot(.sha256, bytes) }
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] { oneShot(.sha1, bytes) }

    /// zlib's CRC-32, as U-Boot computes it.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { buffer -> UInt32 in
            var crc = CLibCrypto.crc32(0, nil, 0)
            var offset = 0
            // zlib takes a 32-bit length: feed large buffers in pieces.
            while offset < buffer.count {
                let length = min(buffer.count - offset, 1 << 30)
                crc = CLibCrypto.crc32(crc, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(length))
                offset += length
            }
            return UInt32(crc)
        }
    }

    /// Lower-case hex, as sha256sum prints it.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func oneShot(_ algorithm: StreamingDigest.Algorithm, _ bytes: [UInt8]) -> [UInt8] {
        let digest = StreamingDigest(algorithm)
        digest.update(bytes)
        return digest.finish()
    }
}
