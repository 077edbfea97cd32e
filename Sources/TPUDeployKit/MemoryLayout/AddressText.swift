/// Spellings of DDR addresses and sizes in plan summaries and errors: `0x1_24100000` (bank cell, underscore,
/// 32-bit offset, as the dts writes them) and `3950 MiB`.
enum AddressText {
    static func address(_ value: UInt64) -> String {
        let high = value >> 32
        let low = String(value & 0xFFFF_FFFF, radix: 16)
        guard high > 0 else { return "0x" + low }
        return "0x" + String(high, radix: 16) + "_" + String(repeating: "0", count: 8 - low.count) + low
    }

    static func size(_ bytes: UInt64) -> String {
        bytes % MemoryPlanner.mebibyte == 0 ? "\(bytes / MemoryPlanner.mebibyte) MiB" : "\(HexText.number(bytes)) bytes"
    }

    /// `0x1_24100000+3950 MiB`.
    static func range(_ range: AddressRange) -> String { address(range.start) + "+" + size(range.size) }

    static func ranges(_ ranges: [AddressRange]) -> String { ranges.map(range).joined(separator: ", ") }

    /// `<0x8 0x4>`.
    static func cells(_ values: [UInt32]) -> String { "<" + values.map { HexText.number($0) }.joined(separator: " ") + ">" }
}
