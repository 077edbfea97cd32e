/// One image under a FIT's `/images`: a kernel, ramdisk or `flat_dt` board dtb, and where its bytes are.
public struct FITSubimage: Sendable, Equatable, Codable {
    /// The node name, e.g. `kernel-1` or `fdt-3`.
    public var name: String
    public var description: String?
    /// `kernel`, `ramdisk`, `flat_dt`, …
    public var type: String?
    public var arch: String?
    public var os: String?
    public var compression: String?
    public var load: UInt64?
    public var entry: UInt64?
    /// Where the data is in the file; nil when the node has none.
    public var data: FITDataLocation?
    public var hashes: [FITHash]

    /// True for board device trees.
    public var isDeviceTree: Bool { type == "flat_dt" }
}

/// Where an image's bytes are in the FIT file.
public struct FITDataLocation: Sendable, Equatable, Codable {
    public enum Storage: String, Sendable, Equatable, Codable {
        /// Inside the tree, as the `data` property's value.
        case embedded
        /// After the tree (`mkimage -E`), at `data-offset` from the end of the tree rounded up to 4 bytes.
        case externalOffset
        /// After the tree, at the absolute `data-position`.
        case externalPosition
    }

    public var storage: Storage
    /// Offset of the first byte in the file.
    public var fileOffset: Int
    public var size: Int
}

/// A `hash-N` node of an image: the algorithm and the stored digest of the image's data.
public struct FITHash: Sendable, Equatable, Codable {
    /// e.g. `hash-1`.
    public var nodeName: String
    /// e.g. `crc32`, `sha1`, `sha256`.
    public var algo: String
    /// The stored digest bytes (crc32 as 4 big-endian bytes); empty when the node has no `value` yet.
    public var value: [UInt8]

    /// The digest as lowercase hex, as `dumpimage -l` prints it.
    public var hexValue: String { HexText.bytes(value) }
}

/// A `/configurations` entry: what U-Boot boots together.
public struct FITConfiguration: Sendable, Equatable, Codable {
    /// e.g. `config-1`.
    public var name: String
    public var description: String?
    public var kernel: String?
    public var ramdisk: String?
    /// The first `fdt` entry (further entries are overlays).
    public var fdt: String?
}
