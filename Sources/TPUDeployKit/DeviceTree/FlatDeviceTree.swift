import CLibFDT

/// A flattened device tree (dtb) held in memory: the one Swift wrapper around libfdt.
///
/// The blob lives in 64-bit words so that libfdt always sees an 8-byte-aligned buffer; no pointer into it leaves
/// this type. Nodes are named by path (`/reserved-memory/ion_npu_mem`), never by libfdt offsets, because any
/// write that changes the blob's size moves every node.
public struct FlatDeviceTree: Sendable, Equatable {
    /// Size of a version 17 header, the smallest blob libfdt can check.
    static let headerSize = 40

    /// The blob, followed by zero bytes up to the next multiple of 8.
    var words: [UInt64]

    /// Checks the header and structure of `bytes` with libfdt (`fdt_check_header`, `fdt_check_full`) and keeps a
    /// copy of the tree, `fdt_totalsize` bytes long; any bytes after the tree are ignored.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 4 else {
            throw DeviceTreeError.notADeviceTree(reason: "only \(bytes.count) bytes")
        }
        let magic = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
        guard magic == 0xD00D_FEED else {
            throw DeviceTreeError.notADeviceTree(reason: "magic \(HexText.number(magic)) is not 0xd00dfeed")
        }
        guard bytes.count >= Self.headerSize else {
            throw DeviceTreeError.truncated(declaredBytes: Self.headerSize, availableBytes: bytes.count)
        }
        var words = [UInt64](repeating: 0, count: (bytes.count + 7) / 8)
        words.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        let totalSize = try words.withUnsafeBytes { try Self.checkedSize($0.baseAddress!, available: bytes.count) }
        words.removeLast(words.count - (totalSize + 7) / 8)
        self.words = words
    }

    /// The current blob, `fdt_totalsize` bytes long (after writes this includes free space; see `pack()`).
    public var bytes: [UInt8] {
        withTree { fdt in Array(UnsafeRawBufferPointer(start: fdt, count: Int(tpd_fdt_totalsize(fdt)))) }
    }

    /// `fdt_totalsize`: the blob's size in bytes.
    public var totalSize: Int { withTree { Int(tpd_fdt_totalsize($0)) } }

    public static func == (lhs: FlatDeviceTree, rhs: FlatDeviceTree) -> Bool { lhs.bytes == rhs.bytes }

    // MARK: Nodes

    /// True when a node exists at `path`.
    public func containsNode(at path: String) -> Bool {
        withTree { fdt_path_offset($0, path) >= 0 }
    }

    /// The names (with unit address, e.g. `memory@100000000`) of the direct children of the node at `path`,
    /// in blob order.
    public func subnodeNames(of path: String) throws -> [String] {
        try withTree { fdt in
            let parent = try Self.offset(of: path, in: fdt)
            var names: [String] = []
            var child = fdt_first_subnode(fdt, parent)
            while child >= 0 {
                names.append(try Self.name(of: child, in: fdt, path: path))
                child = fdt_next_subnode(fdt, child)
            }
            if child != -FDT_ERR_NOTFOUND { throw DeviceTreeError.fromLibFDT(child, "list the subnodes of", path: path) }
            return names
        }
    }

    /// The names of the properties of the node at `path`, in blob order.
    public func propertyNames(at path: String) throws -> [String] {
        try withTree { fdt in
            let node = try Self.offset(of: path, in: fdt)
            var names: [String] = []
            var property = fdt_first_property_offset(fdt, node)
            while property >= 0 {
                var name: UnsafePointer<CChar>?
                var length: Int32 = 0
                guard fdt_getprop_by_offset(fdt, property, &name, &length) != nil, let name else {
                    throw DeviceTreeError.fromLibFDT(length, "read a property of", path: path)
                }
                names.append(String(cString: name))
                property = fdt_next_property_offset(fdt, property)
            }
            if property != -FDT_ERR_NOTFOUND {
                throw DeviceTreeError.fromLibFDT(property, "list the properties of", path: path)
            }
            return names
        }
    }

    /// The node's phandle, or nil when it has none.
    public func phandle(of path: String) throws -> UInt32? {
        try withTree { fdt in
            let value = fdt_get_phandle(fdt, try Self.offset(of: path, in: fdt))
            return value == 0 || value == UInt32.max ? nil : value
        }
    }

    /// The path of the node with this phandle, or nil when no node has it.
    public func path(forPhandle phandle: UInt32) throws -> String? {
        try withTree { fdt in
            let node = fdt_node_offset_by_phandle(fdt, phandle)
            if node == -FDT_ERR_NOTFOUND { return nil }
            if node < 0 { throw DeviceTreeError.fromLibFDT(node, "find phandle \(HexText.number(phandle))") }
            var buffer = [CChar](repeating: 0, count: 4096)
            let result = fdt_get_path(fdt, node, &buffer, Int32(buffer.count))
            if result < 0 { throw DeviceTreeError.fromLibFDT(result, "compute the path of phandle \(HexText.number(phandle))") }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The node's `#address-cells` (libfdt's default 2 when absent): the width of its children's addresses.
    public func addressCells(of path: String) throws -> Int {
        try withTree { fdt in
            let cells = fdt_address_cells(fdt, try Self.offset(of: path, in: fdt))
            if cells < 0 { throw DeviceTreeError.fromLibFDT(cells, "read #address-cells of", path: path) }
            return Int(cells)
        }
    }

    /// The node's `#size-cells` (libfdt's default 1 when absent): the width of its children's sizes.
    public func sizeCells(of path: String) throws -> Int {
        try withTree { fdt in
            let cells = fdt_size_cells(fdt, try Self.offset(of: path, in: fdt))
            if cells < 0 { throw DeviceTreeError.fromLibFDT(cells, "read #size-cells of", path: path) }
            return Int(cells)
        }
    }

    // MARK: Properties

    /// The raw value of a property, or nil when the node has no such property. Throws when the node is missing.
    public func property(_ name: String, at path: String) throws -> [UInt8]? {
        try withTree { fdt in
            let node = try Self.offset(of: path, in: fdt)
            var length: Int32 = 0
            guard let value = fdt_getprop(fdt, node, name, &length) else {
                if length == -FDT_ERR_NOTFOUND { return nil }
                throw DeviceTreeError.fromLibFDT(length, "read", path: path, property: name)
            }
            return Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
        }
    }

    /// A string property (`compatible = "npu-region"` gives "npu-region"; for a list, the first string).
    public func string(_ name: String, at path: String) throws -> String? {
        try stringList(name, at: path)?.first
    }

    /// A string-list property, split at its NUL bytes.
    public func stringList(_ name: String, at path: String) throws -> [String]? {
        guard let value = try property(name, at: path) else { return nil }
        return try DeviceTreeValue.strings(value, path: path, property: name)
    }

    /// A property read as big-endian 32-bit cells.
    public func u32Array(_ name: String, at path: String) throws -> [UInt32]? {
        guard let value = try property(name, at: path) else { return nil }
        return try DeviceTreeValue.cells(value, path: path, property: name)
    }

    /// A property read as groups of cells, each group a tuple of numbers `widths` cells wide (a width of 1 or 2
    /// cells gives a 32- or 64-bit number; 0 gives 0). `reg` with 2 address and 2 size cells is `widths: [2, 2]`.
    public func cells(_ name: String, at path: String, widths: [Int]) throws -> [[UInt64]]? {
        guard let value = try property(name, at: path) else { return nil }
        return try DeviceTreeValue.groups(value, widths: widths, path: path, property: name)
    }

    /// The node's `reg` as address ranges, decoded with its parent's `#address-cells` and `#size-cells`.
    public func reg(at path: String) throws -> [AddressRange]? {
        let parent = DeviceTreePath.parent(of: path)
        let widths = [try addressCells(of: parent), try sizeCells(of: parent)]
        return try cells("reg", at: path, widths: widths)?.map { AddressRange(start: $0[0], size: $0[1]) }
    }

    // MARK: libfdt access

    /// Checks the header and structure of the tree at `fdt`, of which `available` bytes (at least a header's) are
    /// readable, with libfdt (`fdt_check_header`, `fdt_check_full`); returns its `fdt_totalsize`.
    static func checkedSize(_ fdt: UnsafeRawPointer, available: Int) throws -> Int {
        let header = fdt_check_header(fdt)
        let declared = Int(tpd_fdt_totalsize(fdt))
        if declared > available { throw DeviceTreeError.truncated(declaredBytes: declared, availableBytes: available) }
        if header < 0 { throw DeviceTreeError.fromLibFDT(header, "check the header") }
        let full = fdt_check_full(fdt, declared)
        if full < 0 { throw DeviceTreeError.fromLibFDT(full, "check the structure") }
        return declared
    }

    func withTree<Result>(_ body: (UnsafeRawPointer) throws -> Result) rethrows -> Result {
        try words.withUnsafeBytes { try body($0.baseAddress!) }
    }

    static func offset(of path: String, in fdt: UnsafeRawPointer) throws -> Int32 {
        let offset = fdt_path_offset(fdt, path)
        if offset < 0 { throw DeviceTreeError.fromLibFDT(offset, "find", path: path) }
        return offset
    }

    static func name(of node: Int32, in fdt: UnsafeRawPointer, path: String) throws -> String {
        var length: Int32 = 0
        guard let name = fdt_get_name(fdt, node, &length) else {
            throw DeviceTreeError.fromLibFDT(length, "read a subnode name of", path: path)
        }
        return String(cString: name)
    }
}
