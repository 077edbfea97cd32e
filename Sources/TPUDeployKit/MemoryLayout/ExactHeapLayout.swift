/// A heap layout stated address by address, as a board's own dts writes it: every ion heap's start and size and
/// where the 128 MiB VPU firmware region (`vpu_mem`) sits. A board profile's `factory` layout is one.
///
/// Sophgo's factory layouts are not what memory_edit.sh's placement rules would write for the same sizes (the
/// SE7's and AirBox's `vpu_mem` at 0x3_40000000, the AirBox's VPU heap of 0xb7ff0000 bytes, not whole MiB), so
/// restoring one means writing these exact ranges, not planning sizes.
public struct ExactHeapLayout: Sendable, Codable, Equatable {
    /// The heaps present; a heap the layout does not have is absent.
    public var heaps: [IONHeapKind: AddressRange]
    /// `/reserved-memory/vpu_mem`.
    public var vpuFirmware: AddressRange

    public init(heaps: [IONHeapKind: AddressRange], vpuFirmware: AddressRange) {
        self.heaps = heaps
        self.vpuFirmware = vpuFirmware
    }

    /// The layout's heap sizes rounded down to whole MiB: what a plan's `request` shows for it.
    public var roundedRequest: HeapRequest {
        func mib(_ kind: IONHeapKind) -> UInt64 { (heaps[kind]?.size ?? 0) / MemoryPlanner.mebibyte }
        return HeapRequest(npuMiB: mib(.npu), vpuMiB: mib(.vpu), vppMiB: mib(.vpp))
    }

    /// Whether `layout` (a dtb's) has exactly these heaps and this `vpu_mem`.
    public func matches(_ layout: BoardMemoryLayout) -> Bool {
        let present = Dictionary(uniqueKeysWithValues: layout.heaps.map { ($0.kind, AddressRange(start: $0.start, size: $0.size)) })
        let firmware = layout.reservedRegions.first { $0.name == "vpu_mem" }
        return present == heaps && firmware?.start == vpuFirmware.start && firmware?.size == vpuFirmware.size
    }

    var placement: HeapPlacement { HeapPlacement(heaps: heaps, vpuFirmware: vpuFirmware) }
}

extension MemoryPlanner {
    /// Plans the dtb edits that give `tree` exactly `layout` (`fix-memory --preset factory`). memory_edit.sh's
    /// placement rules and its 1 MiB granularity do not apply: the ranges are the vendor's own. tpudeploy's other
    /// checks do (inside the banks, no overlap with the fixed regions, valid phandles); the Linux minimum does not,
    /// as the vendor ships this layout (an AirBox leaves Linux about 1.3 GiB).
    public static func plan(exactly layout: ExactHeapLayout, for tree: FlatDeviceTree) throws -> MemoryPlan {
        try translatingErrors {
            let before = try BoardMemoryLayout(deviceTree: tree)
            let rules = try HeapPlacementRules(layout: before)
            try requireStandardHeapNodes(before)
            let references = try HeapReferences(tree: tree)
            try validate(layout.placement, within: before, granularity: 1)
            let changes = try LayoutDiff(tree: tree, placement: layout.placement, references: references).changes
            var edited = tree
            try LayoutEditor.perform(changes, on: &edited)
            let after = try BoardMemoryLayout(deviceTree: edited)
            guard layout.matches(after) else {
                throw MemoryPlanError.unsupportedLayout(
                    reason: "its heap nodes cannot be given the exact layout (a heap has no phandle to restore it under)")
            }
            try checkReferences(in: edited, comparedWith: tree, managed: references)
            return MemoryPlan(
                request: layout.roundedRequest, before: before, after: after, limits: rules.printedLimits, changes: changes)
        }
    }
}
