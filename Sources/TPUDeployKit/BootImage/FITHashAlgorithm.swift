/// The hash algorithms of FIT `hash-N` nodes that tpudeploy computes. Each digest is in the form U-Boot
/// stores it: the CRC-32 (zlib's) as 4 big-endian bytes, SHA-1 and SHA-256 as their usual bytes.
public enum FITHashAlgorithm: String, Sendable, Codable, CaseIterable {
    case crc32
    case sha1
    case sha256

    /// The digest of `bytes` in the form U-Boot stores in `value`.
    public func digest(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .crc32: return DeviceTreeValue.bigEndianBytes(Digest.crc32(bytes))
        case .sha1: return Digest.sha1(bytes)
        case .sha256: return Digest.sha256(bytes)
        }
    }
}
