/// Human text for memory layouts and plans: what `fix-memory` shows before it writes anything, and what
/// `layout show` prints for every board dtb of an image.
public enum MemoryLayoutText {
    static func address(_ value: UInt64) -> String {
        let high = value >> 32
        let low = String(value & 0xFFFF_FFFF, radix: 16)
        let padded = String(repeating: "0", count: max(0, 8 - low.count)) + low
        return high == 0 ? "0x\(padded)" : "0x\(String(high, radix: 16))_\(padded)"
    }

    /// The last address of a region, "-" for an empty one; never traps on a dtb's odd values.
    static func lastAddress(_ start: UInt64, size: UInt64) -> String {
        guard size > 0 else { return "-" }
        let (last, overflow) = start.addingReportingOverflow(size - 1)
        return address(overflow ? .max : last)
    }

    /// Heap sizes by name as one line: "npu 7526 MiB, vpu 1024 MiB, vpp none" (a heap that is not whole MiB, as the
    /// AirBox's factory VPU heap, is not rounded: "vpu 2.87 GiB").
    public static func heaps(_ sizes: [String: UInt64]) -> String {
        IONHeapKind.allCases.map { kind in "\(kind.rawValue) \(sizes[kind.rawValue].map(mib) ?? "none")" }
            .joined(separator: ", ")
    }

    static func mib(_ bytes: UInt64) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : ByteCount.human(bytes)
    }

    static func bankName(_ start: UInt64?, in layout: BoardMemoryLayout) -> String {
        guard let start else { return "-" }
        return layout.banks.first { start >= $0.start && start < $0.end }?.name ?? "bank \(start >> 32)"
    }

    /// Regions whose placement matters for heaps: the ion heaps and the VPU firmware region.
    static let movableRegions = ["ion_npu_mem", "ion_vpu_mem", "ion_vpp_mem", "vpu_mem"]

    static func cell(_ region: ReservedRegion?, in layout: BoardMemoryLayout) -> [String] {
        guard let region, let start = region.start else { return ["-", "absent", ""] }
        return [bankName(start, in: layout), "\(address(start))-\(lastAddress(start, size: region.size))", mib(region.size)]
    }

    /// The before/after table, Linux memory, limits and exact dtb changes of a plan.
    public static func plan(_ plan: MemoryPlan, heading: String) -> String {
        var table = TextTable(header: ["region", "bank", "before", "size", "", "bank", "after", "size"])
        let names = movableRegions.filter { name in
            plan.before.reservedRegions.contains { $0.name == name } || plan.after.reservedRegions.contains { $0.name == name }
        }
        for name in names {
            let old = plan.before.reservedRegions.first { $0.name == name && $0.start != nil }
            let new = plan.after.reservedRegions.first { $0.name == name && $0.start != nil }
            table.rows.append([name] + cell(old, in: plan.before) + [old == new ? "=" : "→"] + cell(new, in: plan.after))
        }
        table.rows.append(["Linux", "", "", mib(plan.before.linuxBytes), plan.before.linuxBytes == plan.after.linuxBytes ? "=" : "→", "", "", mib(plan.after.linuxBytes)])
        var lines = [heading, "", table.render(), ""]
        lines.append("limits on this board: npu ≤ \(plan.limits.maxNPUMiB) MiB, vpu ≤ \(plan.limits.maxVPUMiB) MiB, vpp ≤ \(plan.limits.maxVPPMiB) MiB")
        if plan.isNoChange {
            lines.append("the boot image already has this layout: no dtb change")
        } else {
            lines.append("dtb changes:")
            lines.append(contentsOf: plan.changes.map { "  \($0.summary)" })
        }
        return lines.joined(separator: "\n")
    }

    /// Every reserved region, the heaps, Linux memory and the maxima of one board dtb.
    public static func layout(_ layout: BoardMemoryLayout, limits: LayoutLimits?, title: String) -> String {
        var lines = [title]
        let banks = layout.banks.map { "\($0.name) \(address($0.start)) \(mib($0.size))" }.joined(separator: ", ")
        lines.append("DDR \(mib(layout.totalDRAMBytes)): \(banks)")
        var table = TextTable(header: ["region", "bank", "start", "end", "size", ""])
        for region in layout.reservedRegions.sorted(by: { ($0.start ?? .max) < ($1.start ?? .max) }) {
            var notes: [String] = []
            if let heap = layout.heaps.first(where: { $0.nodeName == region.name }) { notes.append("\(heap.kind.rawValue) heap") }
            if region.noMap { notes.append("no-map") }
            if region.reusable { notes.append("reusable") }
            if let start = region.start {
                table.rows.append([region.name, bankName(start, in: layout), address(start), lastAddress(start, size: region.size), mib(region.size), notes.joined(separator: ", ")])
            } else {
                table.rows.append([region.name, "-", "anywhere", "", mib(region.size), notes.joined(separator: ", ")])
            }
        }
        lines.append(table.render())
        let heaps = IONHeapKind.allCases.map { kind in "\(kind.rawValue) \(layout.heap(kind).map { mib($0.size) } ?? "none")" }
        lines.append("heaps: " + heaps.joined(separator: ", ") + "; Linux gets \(mib(layout.linuxBytes))")
        if let limits {
            lines.append("max: npu \(limits.maxNPUMiB) MiB, vpu \(limits.maxVPUMiB) MiB, vpp \(limits.maxVPPMiB) MiB")
        }
        return lines.joined(separator: "\n")
    }
}
