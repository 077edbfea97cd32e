import CLibFDT

/// A tree edited where it lies, at the start of a caller's buffer, rather than in a `FlatDeviceTree` of its own: a
/// FIT boot image with embedded data is one 30 MB tree, and copying it into a tree and back out costs more than
/// the edit. libfdt works on the buffer directly; the buffer's bytes after the tree are the room writes grow into.
///
/// Only valid inside the `withUnsafeMutableBytes` call that gave the buffer. Nodes are named by path, as in
/// `FlatDeviceTree`.
struct InPlaceDeviceTree {
    private let fdt: UnsafeMutableRawPointer
    private let room: Int
    /// `fdt_totalsize` when opened: `finish()` gives the tree back at this size when no write changed a size.
    let originalSize: Int
    /// The free space after the tree's last block once opened; a write that changed a size changes it.
    private let openedFreeSpace: Int

    /// Checks the tree at the start of `buffer` as `FlatDeviceTree(bytes:)` does and opens it over the whole
    /// buffer (`fdt_open_into` in place: a tree in libfdt's block order only gets a larger `totalsize`).
    /// The buffer must be 8-byte aligned, as libfdt requires.
    init(opening buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress, buffer.count >= FlatDeviceTree.headerSize else {
            throw DeviceTreeError.truncated(declaredBytes: FlatDeviceTree.headerSize, availableBytes: buffer.count)
        }
        guard tpd_fdt_magic(base) == 0xD00D_FEED else {
            throw DeviceTreeError.notADeviceTree(reason: "magic \(HexText.number(tpd_fdt_magic(base))) is not 0xd00dfeed")
        }
        guard Int(bitPattern: base) % 8 == 0 else { throw DeviceTreeError.fromLibFDT(-FDT_ERR_ALIGNMENT, "open the tree in place") }
        guard buffer.count < Int(Int32.max) else {
            throw DeviceTreeError.fromLibFDT(-FDT_ERR_NOSPACE, "open a tree in a buffer of \(buffer.count) bytes")
        }
        originalSize = try FlatDeviceTree.checkedSize(base, available: buffer.count)
        let opened = fdt_open_into(base, base, Int32(buffer.count))
        if opened < 0 { throw DeviceTreeError.fromLibFDT(opened, "grow the tree to \(buffer.count) bytes") }
        fdt = base
        room = buffer.count
        openedFreeSpace = FlatDeviceTree.freeSpaceAtEnd(of: base)
    }

    /// Sets (creates or replaces) a property to raw bytes. Throws `FDT_ERR_NOSPACE` when the buffer's room is
    /// used up: the caller sizes the buffer for its writes.
    func setProperty(_ name: String, to value: [UInt8], at path: String) throws {
        let node = fdt_path_offset(fdt, path)
        if node < 0 { throw DeviceTreeError.fromLibFDT(node, "find", path: path) }
        let result = value.withUnsafeBytes { fdt_setprop(fdt, node, name, $0.baseAddress, Int32(value.count)) }
        if result < 0 { throw DeviceTreeError.fromLibFDT(result, "set", path: path, property: name) }
    }

    /// Ends the edit and returns the tree's new `totalsize`. A tree whose writes all kept their sizes gets its
    /// old `totalsize` back and is byte for byte what it was plus the new values; otherwise it is packed
    /// (`fdt_pack`) and keeps the free space it had after its last block, zeroed, as `dtc -p` leaves it.
    func finish() throws -> Int {
        let freeSpace = openedFreeSpace - (room - originalSize)
        if FlatDeviceTree.freeSpaceAtEnd(of: fdt) == openedFreeSpace && freeSpace >= 0 {
            fdt_set_totalsize(fdt, UInt32(originalSize))
            return originalSize
        }
        let packed = fdt_pack(fdt)
        if packed < 0 { throw DeviceTreeError.fromLibFDT(packed, "pack the tree") }
        let size = Int(tpd_fdt_totalsize(fdt))
        let kept = max(freeSpace, 0)
        guard size + kept <= room else {
            throw DeviceTreeError.fromLibFDT(-FDT_ERR_NOSPACE, "leave \(kept) free bytes after a \(size)-byte tree")
        }
        (fdt + size).initializeMemory(as: UInt8.self, repeating: 0, count: kept)
        fdt_set_totalsize(fdt, UInt32(size + kept))
        return size + kept
    }
}
