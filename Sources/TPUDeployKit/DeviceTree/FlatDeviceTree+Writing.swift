import CLibFDT

/// Changes to the tree. Each looks its node up by path, and when libfdt runs out of room (`FDT_ERR_NOSPACE`)
/// re-opens the tree into a larger buffer with `fdt_open_into` and tries again, so callers never size buffers.
extension FlatDeviceTree {
    /// Sets (creates or replaces) a property to raw bytes; a new property goes before the node's others.
    public mutating func setProperty(_ name: String, to value: [UInt8], at path: String) throws {
        try write("set", path: path, property: name, growth: value.count + name.utf8.count + 16) { fdt, node in
            value.withUnsafeBytes { fdt_setprop(fdt, node, name, $0.baseAddress, Int32(value.count)) }
        }
    }

    /// Sets a property to one NUL-terminated string.
    public mutating func setString(_ name: String, to value: String, at path: String) throws {
        try setProperty(name, to: Array(value.utf8) + [0], at: path)
    }

    /// Sets a property to a list of NUL-terminated strings (`compatible = "a", "b"`).
    public mutating func setStringList(_ name: String, to values: [String], at path: String) throws {
        try setProperty(name, to: values.flatMap { Array($0.utf8) + [0] }, at: path)
    }

    /// Sets a property to big-endian 32-bit cells.
    public mutating func setU32Array(_ name: String, to values: [UInt32], at path: String) throws {
        try setProperty(name, to: values.flatMap(DeviceTreeValue.bigEndianBytes), at: path)
    }

    /// Sets a property to groups of numbers, each `widths` cells wide (the inverse of `cells(_:at:widths:)`).
    public mutating func setCells(_ name: String, to groups: [[UInt64]], widths: [Int], at path: String) throws {
        guard widths.allSatisfy({ (0...2).contains($0) }), groups.allSatisfy({ $0.count == widths.count }) else {
            throw DeviceTreeError.malformedProperty(
                path: path, property: name, reason: "each entry needs \(widths.count) numbers of 0, 1 or 2 cells")
        }
        for (group, _) in groups.enumerated() {
            for (number, width) in zip(groups[group], widths) where width < 2 && number > UInt64(UInt32.max) * UInt64(width) {
                throw DeviceTreeError.malformedProperty(
                    path: path, property: name, reason: "\(HexText.number(number)) does not fit in \(width) cell(s)")
            }
        }
        try setProperty(name, to: DeviceTreeValue.encode(groups, widths: widths), at: path)
    }

    /// Sets the node's `reg`, encoded with its parent's `#address-cells` and `#size-cells`.
    public mutating func setReg(_ ranges: [AddressRange], at path: String) throws {
        let parent = DeviceTreePath.parent(of: path)
        let widths = [try addressCells(of: parent), try sizeCells(of: parent)]
        try setCells("reg", to: ranges.map { [$0.start, $0.size] }, widths: widths, at: path)
    }

    /// Removes a property; returns false when the node had no such property.
    @discardableResult
    public mutating func removeProperty(_ name: String, at path: String) throws -> Bool {
        do {
            try write("remove", path: path, property: name, growth: 0) { fdt, node in fdt_delprop(fdt, node, name) }
            return true
        } catch let error as DeviceTreeError where error.isNotFound && containsNode(at: path) {
            return false
        }
    }

    /// Adds an empty child node named `name` (e.g. `ion_npu_mem` or `heap_carveout@0`) under `parentPath` and
    /// returns its path. libfdt places it before the parent's other children. Throws when it already exists.
    @discardableResult
    public mutating func addNode(_ name: String, under parentPath: String) throws -> String {
        let path = DeviceTreePath.child(name, of: parentPath)
        try write("add node", path: parentPath, property: nil, growth: name.utf8.count + 16) { fdt, parent in
            let result = fdt_add_subnode(fdt, parent, name)
            return result == -FDT_ERR_EXISTS ? result : min(result, 0)
        }
        return path
    }

    /// Removes the node at `path` with all its properties and children.
    public mutating func removeNode(at path: String) throws {
        try write("remove node", path: path, property: nil, growth: 0) { fdt, node in fdt_del_node(fdt, node) }
    }

    /// Removes the free space left by writes and growth, so that `bytes` is as short as the tree allows.
    public mutating func pack() throws {
        let result = words.withUnsafeMutableBytes { fdt_pack($0.baseAddress!) }
        if result < 0 { throw DeviceTreeError.fromLibFDT(result, "pack the tree") }
        words.removeLast(words.count - (totalSize + 7) / 8)
    }

    // MARK: The write loop

    /// Runs one libfdt write on the node at `path`, re-looking the node up on every attempt and growing the
    /// buffer when libfdt reports it is full, or when the tree needs re-opening (old version, unusual block order).
    private mutating func write(
        _ operation: String, path: String, property: String?, growth: Int,
        _ body: (UnsafeMutableRawPointer, Int32) -> Int32
    ) throws {
        let needsReopening: Set<Int32> = [-FDT_ERR_NOSPACE, -FDT_ERR_BADLAYOUT, -FDT_ERR_BADVERSION]
        for attempt in 0..<4 {
            var lookupFailed = false
            let result = words.withUnsafeMutableBytes { buffer -> Int32 in
                let fdt = buffer.baseAddress!
                let node = fdt_path_offset(fdt, path)
                if node < 0 {
                    lookupFailed = true
                    return node
                }
                return body(fdt, node)
            }
            if result >= 0 { return }
            if lookupFailed { throw DeviceTreeError.fromLibFDT(result, "find", path: path, property: nil) }
            guard needsReopening.contains(result), attempt < 3 else {
                throw DeviceTreeError.fromLibFDT(result, operation, path: path, property: property)
            }
            try reopen(adding: growth << attempt)
        }
    }

    /// Copies the tree into a larger buffer with `fdt_open_into`; the new free space becomes part of the tree.
    private mutating func reopen(adding growth: Int) throws {
        let current = totalSize
        let wanted = current + max(growth + 64, current / 4, 1024)
        guard wanted < Int(Int32.max) else {
            throw DeviceTreeError.fromLibFDT(-FDT_ERR_NOSPACE, "grow the tree beyond \(current) bytes")
        }
        var larger = [UInt64](repeating: 0, count: (wanted + 7) / 8)
        let size = Int32(larger.count * 8)
        let result = words.withUnsafeBytes { old in
            larger.withUnsafeMutableBytes { fdt_open_into(old.baseAddress!, $0.baseAddress!, size) }
        }
        if result < 0 { throw DeviceTreeError.fromLibFDT(result, "grow the tree to \(size) bytes") }
        words = larger
    }
}
