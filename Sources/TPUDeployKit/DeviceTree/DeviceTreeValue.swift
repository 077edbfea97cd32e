/// Decoding of device tree property values (big-endian cells, NUL-separated strings), shared by the libfdt
/// wrapper and the pure-Swift FIT index.
enum DeviceTreeValue {
    static func strings(_ value: [UInt8], path: String, property: String) throws -> [String] {
        guard let last = value.last, last == 0 else {
            throw DeviceTreeError.malformedProperty(path: path, property: property, reason: "not a NUL-terminated string")
        }
        return value.dropLast().split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    static func cells(_ value: [UInt8], path: String, property: String) throws -> [UInt32] {
        guard value.count % 4 == 0 else {
            throw DeviceTreeError.malformedProperty(
                path: path, property: property, reason: "\(value.count) bytes is not a whole number of 32-bit cells")
        }
        return stride(from: 0, to: value.count, by: 4).map { bigEndianU32(value, at: $0) }
    }

    static func groups(_ value: [UInt8], widths: [Int], path: String, property: String) throws -> [[UInt64]] {
        let cellsPerGroup = widths.reduce(0, +)
        guard widths.allSatisfy({ (0...2).contains($0) }), cellsPerGroup > 0 else {
            throw DeviceTreeError.malformedProperty(
                path: path, property: property, reason: "cell widths \(widths) are not supported (each must be 0, 1 or 2)")
        }
        let cells = try cells(value, path: path, property: property)
        guard cells.count % cellsPerGroup == 0 else {
            throw DeviceTreeError.malformedProperty(
                path: path, property: property,
                reason: "\(cells.count) cells is not a whole number of \(cellsPerGroup)-cell entries")
        }
        return stride(from: 0, to: cells.count, by: cellsPerGroup).map { start in
            var index = start
            return widths.map { width in
                var number: UInt64 = 0
                for _ in 0..<width {
                    number = number << 32 | UInt64(cells[index])
                    index += 1
                }
                return number
            }
        }
    }

    /// Encodes numbers as big-endian cells, each `widths[i % widths.count]` cells wide.
    static func encode(_ numbers: [[UInt64]], widths: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for group in numbers {
            for (number, width) in zip(group, widths) {
                for cell in (0..<width).reversed() {
                    bytes += bigEndianBytes(UInt32(truncatingIfNeeded: number >> (32 * UInt64(cell))))
                }
            }
        }
        return bytes
    }

    static func bigEndianU32<C: RandomAccessCollection>(_ bytes: C, at offset: Int) -> UInt32
    where C.Element == UInt8, C.Index == Int {
        let base = bytes.startIndex + offset
        return UInt32(bytes[base]) << 24 | UInt32(bytes[base + 1]) << 16 | UInt32(bytes[base + 2]) << 8
            | UInt32(bytes[base + 3])
    }

    static func bigEndianBytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value)]
    }
}

/// Path arithmetic on device tree node paths.
enum DeviceTreePath {
    /// `/a/b` → `/a`; `/a` → `/`.
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// `/` + `a` → `/a`; `/a` + `b` → `/a/b`.
    static func child(_ name: String, of parent: String) -> String {
        parent.hasSuffix("/") ? parent + name : parent + "/" + name
    }
}
