/// A property found by `DeviceTreeIndex`: where its value is in the source, and the value itself when it was
/// small enough to read on the way.
public struct IndexedProperty: Sendable, Equatable {
    public let name: String
    /// Offset of the value's first byte in the source (not in the structure block).
    public let valueOffset: Int
    public let length: Int
    /// The value, or nil when it was longer than the index's eager limit and was skipped.
    public let value: [UInt8]?
}

/// A node found by `DeviceTreeIndex`.
public struct IndexedNode: Sendable, Equatable {
    /// `/images/kernel-1`; the root is `/`.
    public let path: String
    /// The name with unit address; empty for the root.
    public let name: String
    public fileprivate(set) var properties: [IndexedProperty] = []
    public fileprivate(set) var childNames: [String] = []

    public func property(_ name: String) -> IndexedProperty? { properties.first { $0.name == name } }
}

/// The nodes and properties of a flattened device tree, learnt by walking its structure block in pure Swift
/// without reading large property values.
///
/// A board's `/boot/emmcboot.itb` is 30–40 MB, almost all of it the kernel and ramdisk `data` values; over SFTP
/// the index reads the header, the strings block in one call, and the structure block in chunks, jumping over
/// every value longer than `eagerValueLimit`.
public struct DeviceTreeIndex: Sendable {
    /// Values up to this length are read while walking: enough for every property of a FIT and for board dtbs
    /// (tens of KiB, stored next to each other), not for kernels and ramdisks.
    public static let defaultEagerValueLimit = 64 * 1024
    /// How much of the structure block one read fetches.
    public static let defaultChunkSize = 16 * 1024

    /// `totalsize` from the header: the tree's length; external FIT data starts after it.
    public let totalSize: Int
    /// Every node, in blob order.
    public let nodes: [IndexedNode]
    private let nodeIndexByPath: [String: Int]

    /// Walks the tree at the start of `source`. Throws `FITError` for anything that is not a sound device tree,
    /// and whatever `source` throws for failed reads.
    public init(
        source: any RandomAccessBytes, eagerValueLimit: Int = defaultEagerValueLimit,
        chunkSize: Int = defaultChunkSize
    ) throws {
        let header = try DeviceTreeHeader(source: source)
        let strings = try source.bytes(at: header.stringsOffset, count: header.stringsSize)
        var cursor = StructureCursor(
            source: source, start: header.structureOffset, end: header.structureOffset + header.structureSize,
            chunkSize: max(chunkSize, 64))
        var nodes: [IndexedNode] = []
        var indexByPath: [String: Int] = [:]
        var open: [Int] = []  // indexes of the nodes being filled, innermost last

        walk: while true {
            let tokenOffset = cursor.position
            switch try cursor.u32() {
            case Token.beginNode:
                let name = try cursor.nodeName()
                let path: String
                if let parent = open.last {
                    path = DeviceTreePath.child(name, of: nodes[parent].path)
                    nodes[parent].childNames.append(name)
                } else {
                    guard nodes.isEmpty, name.isEmpty else {
                        throw FITError.malformedTree(reason: "a second root node at structure offset \(tokenOffset)")
                    }
                    path = "/"
                }
                guard open.count < 64 else { throw FITError.malformedTree(reason: "nodes nested deeper than 64 at \(path)") }
                indexByPath[path] = nodes.count
                open.append(nodes.count)
                nodes.append(IndexedNode(path: path, name: name))
            case Token.endNode:
                guard open.popLast() != nil else {
                    throw FITError.malformedTree(reason: "an END_NODE without a node at file offset \(tokenOffset)")
                }
            case Token.property:
                let length = Int(try cursor.u32())
                let nameOffset = Int(try cursor.u32())
                guard let node = open.last else {
                    throw FITError.malformedTree(reason: "a property outside any node at file offset \(tokenOffset)")
                }
                let name = try Self.string(in: strings, at: nameOffset)
                let valueOffset = cursor.position
                let value: [UInt8]?
                if length <= eagerValueLimit {
                    value = try cursor.read(length)
                } else {
                    value = nil
                    try cursor.skip(length)
                }
                try cursor.skip((4 - length % 4) % 4)
                nodes[node].properties.append(
                    IndexedProperty(name: name, valueOffset: valueOffset, length: length, value: value))
            case Token.nop:
                continue
            case Token.end:
                guard open.isEmpty, !nodes.isEmpty else {
                    throw FITError.malformedTree(reason: "the structure block ends inside a node")
                }
                break walk
            case let token:
                throw FITError.malformedTree(reason: "unknown token \(HexText.number(token)) at file offset \(tokenOffset)")
            }
        }
        self.totalSize = header.totalSize
        self.nodes = nodes
        self.nodeIndexByPath = indexByPath
    }

    /// The node at `path`, or nil.
    public func node(at path: String) -> IndexedNode? {
        nodeIndexByPath[path].map { nodes[$0] }
    }

    /// The direct children of the node at `path`, in blob order.
    public func children(of path: String) -> [IndexedNode] {
        guard let node = node(at: path) else { return [] }
        return node.childNames.compactMap { self.node(at: DeviceTreePath.child($0, of: path)) }
    }

    private static func string(in strings: [UInt8], at offset: Int) throws -> String {
        guard offset >= 0, offset < strings.count, let end = strings[offset...].firstIndex(of: 0) else {
            throw FITError.malformedTree(reason: "a property name at strings offset \(offset) is outside the strings block")
        }
        return String(decoding: strings[offset..<end], as: UTF8.self)
    }

    private enum Token {
        static let beginNode: UInt32 = 1
        static let endNode: UInt32 = 2
        static let property: UInt32 = 3
        static let nop: UInt32 = 4
        static let end: UInt32 = 9
    }
}

/// The fixed header of a flattened device tree, checked against the source's length.
struct DeviceTreeHeader {
    static let size = 40
    let totalSize: Int
    let structureOffset: Int
    let structureSize: Int
    let stringsOffset: Int
    let stringsSize: Int

    init(source: any RandomAccessBytes) throws {
        guard source.count >= 4 else {
            throw FITError.notAFlattenedDeviceTree(reason: "the file has only \(source.count) bytes")
        }
        let bytes = try source.bytes(at: 0, count: min(Self.size, source.count))
        func field(_ index: Int) -> Int { Int(DeviceTreeValue.bigEndianU32(bytes, at: index * 4)) }
        guard field(0) == 0xD00D_FEED else {
            throw FITError.notAFlattenedDeviceTree(reason: "magic \(HexText.number(field(0))) is not 0xd00dfeed")
        }
        guard bytes.count == Self.size else {
            throw FITError.truncated(declaredBytes: Self.size, availableBytes: source.count)
        }
        totalSize = field(1)
        structureOffset = field(2)
        stringsOffset = field(3)
        let version = field(5)
        let lastCompatibleVersion = field(6)
        stringsSize = field(8)
        guard version >= 16, lastCompatibleVersion <= 17 else {
            throw FITError.notAFlattenedDeviceTree(
                reason: "device tree version \(version) (compatible with \(lastCompatibleVersion)) is not supported")
        }
        // Version 16 headers have no structure size: the block runs up to the strings (or the end).
        structureSize = version >= 17
            ? field(9) : (stringsOffset > structureOffset ? stringsOffset : field(1)) - structureOffset
        guard totalSize <= source.count else {
            throw FITError.truncated(declaredBytes: totalSize, availableBytes: source.count)
        }
        guard structureOffset >= Self.size, structureOffset + structureSize <= totalSize,
            stringsOffset >= Self.size, stringsOffset + stringsSize <= totalSize, structureSize >= 4
        else {
            throw FITError.malformedTree(
                reason: "header blocks (structure \(structureOffset)+\(structureSize), strings "
                    + "\(stringsOffset)+\(stringsSize)) do not fit in \(totalSize) bytes")
        }
    }
}

/// Reads the structure block front to back in chunks, so that small tokens cost no extra round trips and big
/// values are jumped over without being read.
struct StructureCursor {
    let source: any RandomAccessBytes
    let end: Int
    let chunkSize: Int
    private(set) var position: Int
    private var buffer: [UInt8] = []
    private var bufferStart = 0

    init(source: any RandomAccessBytes, start: Int, end: Int, chunkSize: Int) {
        self.source = source
        self.position = start
        self.end = end
        self.chunkSize = chunkSize
    }

    mutating func read(_ count: Int) throws -> [UInt8] {
        try ensure(count)
        let start = position - bufferStart
        position += count
        return Array(buffer[start..<(start + count)])
    }

    mutating func u32() throws -> UInt32 {
        try ensure(4)
        let value = DeviceTreeValue.bigEndianU32(buffer, at: position - bufferStart)
        position += 4
        return value
    }

    mutating func skip(_ count: Int) throws {
        guard count >= 0, count <= end - position else {
            throw FITError.malformedTree(reason: "a \(count)-byte value at file offset \(position) runs past the structure block")
        }
        position += count
    }

    /// A NUL-terminated node name, padded to 4 bytes.
    mutating func nodeName() throws -> String {
        var name: [UInt8] = []
        while true {
            let word = try read(4)
            if let nul = word.firstIndex(of: 0) {
                name += word[..<nul]
                return String(decoding: name, as: UTF8.self)
            }
            name += word
            guard name.count <= 4096 else {
                throw FITError.malformedTree(reason: "a node name at file offset \(position) is longer than 4 KiB")
            }
        }
    }

    private mutating func ensure(_ count: Int) throws {
        if position >= bufferStart, position + count <= bufferStart + buffer.count { return }
        guard count <= end - position else {
            throw FITError.malformedTree(reason: "the structure block ends inside an item at file offset \(position)")
        }
        buffer = try source.bytes(at: position, count: max(count, min(chunkSize, end - position)))
        bufferStart = position
    }
}
