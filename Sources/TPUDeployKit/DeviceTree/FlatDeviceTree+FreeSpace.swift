import CLibFDT

/// The room at the end of a blob: `dtc -p N` leaves N zero bytes after the strings block, and tools that rewrite
/// a tree (a FIT's hash values, a board dtb's heaps) keep that room so later small writes need no re-layout.
extension FlatDeviceTree {
    /// Bytes between the end of the last block (memory reservations, structure, strings) and `totalsize`.
    public var freeSpaceAtEnd: Int { withTree(Self.freeSpaceAtEnd) }

    /// `freeSpaceAtEnd` of the tree at `fdt`.
    static func freeSpaceAtEnd(of fdt: UnsafeRawPointer) -> Int {
        let header = UnsafeRawBufferPointer(start: fdt, count: Self.headerSize)
        func field(_ offset: Int) -> Int { Int(DeviceTreeValue.bigEndianU32(header, at: offset)) }
        // Version 16 headers have no structure size; such a tree is re-laid out by any write anyway.
        guard field(0x14) >= 17 else { return 0 }
        let reservations = field(0x10) + (Int(max(fdt_num_mem_rsv(fdt), 0)) + 1) * 16
        let end = max(reservations, field(0x08) + field(0x24), field(0x0C) + field(0x20))
        return max(field(0x04) - end, 0)
    }

    /// Like `init(bytes:)`, with `extraSpace` more bytes of free space at the end of the blob, so that writes
    /// growing the tree by up to that much need no second copy of it (a FIT image is 30–40 MB).
    public init(bytes: [UInt8], reservingFreeSpace extraSpace: Int) throws {
        // Nothing to reserve, or too short to be a tree (init(bytes:) then throws its usual error).
        guard extraSpace > 0, bytes.count >= Self.headerSize else {
            self.words = try FlatDeviceTree(bytes: bytes).words
            return
        }
        guard bytes.count + extraSpace < Int(Int32.max) else {
            throw DeviceTreeError.fromLibFDT(-FDT_ERR_NOSPACE, "reserve \(extraSpace) bytes after a \(bytes.count)-byte tree")
        }
        var blob = [UInt64](repeating: 0, count: (bytes.count + extraSpace + 7) / 8)
        blob.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        let size = try blob.withUnsafeMutableBytes { buffer -> Int in
            let fdt = buffer.baseAddress!
            guard tpd_fdt_magic(fdt) == 0xD00D_FEED else {
                throw DeviceTreeError.notADeviceTree(reason: "magic \(HexText.number(tpd_fdt_magic(fdt))) is not 0xd00dfeed")
            }
            let declared = try Self.checkedSize(fdt, available: bytes.count)
            // Bytes after the tree are not part of it.
            for index in declared..<bytes.count { buffer[index] = 0 }
            let size = declared + extraSpace
            let opened = fdt_open_into(fdt, fdt, Int32(size))
            if opened < 0 { throw DeviceTreeError.fromLibFDT(opened, "grow the tree to \(size) bytes") }
            return size
        }
        blob.removeLast(blob.count - (size + 7) / 8)
        self.words = blob
    }

    /// Packs the tree (`fdt_pack`), then leaves `freeSpace` zero bytes after its last block, as `dtc -p` does.
    public mutating func pack(leavingFreeSpace freeSpace: Int) throws {
        try pack()
        guard freeSpace > 0 else { return }
        let packed = totalSize
        guard packed + freeSpace < Int(Int32.max) else {
            throw DeviceTreeError.fromLibFDT(-FDT_ERR_NOSPACE, "leave \(freeSpace) free bytes after a \(packed)-byte tree")
        }
        let wantedWords = (packed + freeSpace + 7) / 8
        words.append(contentsOf: repeatElement(0, count: wantedWords - words.count))
        words.withUnsafeMutableBytes { buffer in
            // The last word of the packed tree may hold bytes the blocks moved away from.
            for index in packed..<buffer.count { buffer[index] = 0 }
            fdt_set_totalsize(buffer.baseAddress!, UInt32(packed + freeSpace))
        }
    }
}
