/// Reads a board profile's `factory:` mapping: the vendor's exact heap layout, each region as quoted hex
///
///     factory:
///       source: sophgo/linux-arm64 arch/arm64/boot/dts/bitmain/bm1684x_sm7_airbox.dts (v25.03.01)
///       ion_npu_mem: {start: "0x1_24100000", size: "0x1_dbf00000"}
///       ion_vpu_mem: {start: "0x3_48000000", size: "0xb7ff0000"}
///       ion_vpp_mem: {start: "0x4_12000000", size: "0xee000000"}
///       vpu_mem:     {start: "0x3_40000000", size: "0x8000000"}
///
/// and checks it against the DDR the board comes with, so a mistyped address is reported with its file and key.
enum FactoryLayoutEntry {
    static let regionKeys: [(key: String, kind: IONHeapKind?)] = [
        ("ion_npu_mem", .npu), ("ion_vpu_mem", .vpu), ("ion_vpp_mem", .vpp), ("vpu_mem", nil),
    ]
    /// The coarsest boundary every vendor factory region keeps: not always a 4 KiB page, since the AirBox's dts of
    /// sophgo/linux-arm64 v23.10.01 and v23.09-LTS-SP1 puts its VPP heap at 0x4_1194d800 (0xee6b2800 bytes), and
    /// those boards boot it. A range off this boundary is a typing mistake.
    static let boundary: UInt64 = 0x800

    /// The layout, checked to lie inside the banks of every DDR size in `ramSizes` without overlaps.
    static func read(_ mapping: YAMLMapping, ramSizes: [String]) throws -> (layout: ExactHeapLayout, source: String) {
        try mapping.onlyKeys(["source"] + regionKeys.map(\.key))
        let source = try mapping.string("source")
        var heaps: [IONHeapKind: AddressRange] = [:]
        var firmware: AddressRange?
        var read: [(key: String, range: AddressRange)] = []
        for (key, kind) in regionKeys {
            guard let entry = try mapping.optionalMapping(key) else {
                if kind == nil { throw mapping.invalid(key, "required: where the 128 MiB VPU firmware region sits") }
                continue
            }
            let range = try Self.range(entry)
            for ram in ramSizes where !Self.banks(ram).contains(where: { $0.start <= range.start && range.end <= $0.end }) {
                throw mapping.invalid(key, "\(AddressText.range(range)) does not lie inside the DDR of a \(ram) board")
            }
            if let other = read.first(where: { MemoryPlanner.overlaps($0.range, range) }) {
                throw mapping.invalid(key, "\(AddressText.range(range)) overlaps \(other.key) (\(AddressText.range(other.range)))")
            }
            read.append((key, range))
            if let kind { heaps[kind] = range } else { firmware = range }
        }
        guard let firmware else { throw mapping.invalid("vpu_mem", "required") }
        return (ExactHeapLayout(heaps: heaps, vpuFirmware: firmware), source)
    }

    /// `{start: "0x…", size: "0x…"}`: on 2 KiB boundaries (see `boundary`), not empty.
    private static func range(_ entry: YAMLMapping) throws -> AddressRange {
        try entry.onlyKeys(["start", "size"])
        let start = try hex(entry, "start")
        let size = try hex(entry, "size")
        guard size > 0 else { throw entry.invalid("size", "must not be 0 (leave the heap out instead)") }
        guard start % boundary == 0, size % boundary == 0 else {
            throw entry.invalid("start", "\(AddressText.range(AddressRange(start: start, size: size))) is not on 2 KiB boundaries")
        }
        guard start.addingReportingOverflow(size).overflow == false else { throw entry.invalid("size", "runs past the address space") }
        return AddressRange(start: start, size: size)
    }

    /// Quoted hex with `0x`; underscores are allowed, so a bank cell can stand apart as tpudeploy prints it ("0x1_24100000").
    private static func hex(_ entry: YAMLMapping, _ key: String) throws -> UInt64 {
        let text = try entry.string(key)
        let digits = text.replacingOccurrences(of: "_", with: "")
        guard digits.lowercased().hasPrefix("0x"), let value = UInt64(digits.dropFirst(2), radix: 16) else {
            throw entry.invalid(key, "'\(text)' is not a quoted hex number such as \"0x1_24100000\"")
        }
        return value
    }

    /// The DDR spans of a board of this size: banks 0x1-0x4 (16g) or 0x1, 0x3, 0x4 (12g), touching banks joined.
    static func banks(_ ram: String) -> [AddressRange] {
        let bank: UInt64 = 1 << 32
        switch ram {
        case "12g": return [AddressRange(start: 1 * bank, size: bank), AddressRange(start: 3 * bank, size: 2 * bank)]
        default: return [AddressRange(start: 1 * bank, size: 4 * bank)]
        }
    }
}
