/// Plans and applies `tpudeploy fix-memory`'s edits of a BM1684X board dtb: the ion heap layout Sophgo's
/// memory_edit.sh (version 2.12) writes for the same request, refusing what it refuses, plus tpudeploy's own checks
/// (regions inside the DDR banks, no overlaps, 1 MiB granularity, a minimum left to Linux, valid phandles).
///
/// One deliberate difference: where memory_edit.sh deletes a removed heap's node and leaves the TPU node's (or the
/// video decoder's) `memory-region` pointing at a phandle no node has, tpudeploy keeps a `status = "disabled"` node
/// with no `reg` in its place. The kernel ignores it, every reference stays valid, the entries of the TPU node keep
/// their positions, and restoring the heap later gives it back its phandle.
public enum MemoryPlanner {
    public static let mebibyte: UInt64 = 1 << 20

    static let ionPath = "/bitmain-ion"
    static let ionCompatible = "bitmain,bitmain-ion"
    static let vpuFirmwarePath = "/reserved-memory/vpu_mem"

    /// `/reserved-memory/ion_npu_mem` and so on: the node names memory_edit.sh edits.
    static func heapPath(_ kind: IONHeapKind) -> String { "/reserved-memory/ion_\(kind.rawValue)_mem" }

    /// The heap's `bitmain-ion` child: npu `heap_carveout@0`, vpp `@1`, vpu `@2`.
    static func carveoutPath(_ kind: IONHeapKind) -> String {
        let index = switch kind {
        case .npu: 0
        case .vpp: 1
        case .vpu: 2
        }
        return ionPath + "/heap_carveout@\(index)"
    }

    static func carveoutCompatible(_ kind: IONHeapKind) -> String { "bitmain,carveout_\(kind.rawValue)" }

    /// The largest heaps the board allows: what `memory_edit.sh -p` prints as "max npu/vpu/vpp size".
    public static func limits(for layout: BoardMemoryLayout) throws -> LayoutLimits {
        try HeapPlacementRules(layout: layout).printedLimits
    }

    /// Plans the dtb edits for `request` without changing `tree`; throws `MemoryPlanError` for a request
    /// memory_edit.sh refuses or tpudeploy's checks reject, naming the limit.
    public static func plan(_ request: HeapRequest, for tree: FlatDeviceTree, minimumLinuxMiB: UInt64 = 0) throws
        -> MemoryPlan
    {
        try translatingErrors {
            let before = try BoardMemoryLayout(deviceTree: tree)
            let rules = try HeapPlacementRules(layout: before)
            try requireStandardHeapNodes(before)
            let references = try HeapReferences(tree: tree)
            try rules.check(request)
            let placement = try rules.placement(for: request)
            try validate(placement, within: before)

            let changes = try LayoutDiff(tree: tree, placement: placement, references: references).changes
            var edited = tree
            try LayoutEditor.perform(changes, on: &edited)
            let after = try BoardMemoryLayout(deviceTree: edited)
            let left = after.linuxBytes / mebibyte
            if left < minimumLinuxMiB { throw MemoryPlanError.linuxBelowMinimum(leftMiB: left, minimumMiB: minimumLinuxMiB) }
            try checkReferences(in: edited, comparedWith: tree, managed: references)
            return MemoryPlan(
                request: request, before: before, after: after, limits: rules.printedLimits, changes: changes)
        }
    }

    /// Performs `plan.changes` on `tree`. Throws, leaving `tree` unchanged, when `tree` is not the dtb the plan was
    /// made for or the edits do not give `plan.after`.
    public static func apply(_ plan: MemoryPlan, to tree: inout FlatDeviceTree) throws {
        try translatingErrors {
            guard try BoardMemoryLayout(deviceTree: tree) == plan.before else {
                throw MemoryPlanError.planDoesNotMatchTree(reason: "its memory layout is not the plan's starting layout")
            }
            var edited = tree
            try LayoutEditor.perform(plan.changes, on: &edited)
            guard try BoardMemoryLayout(deviceTree: edited) == plan.after else {
                throw MemoryPlanError.planDoesNotMatchTree(reason: "the edits did not give the planned layout")
            }
            tree = edited
        }
    }

    // MARK: tpudeploy's checks

    /// Each heap is the node memory_edit.sh edits (`/reserved-memory/ion_npu_mem` and so on).
    static func requireStandardHeapNodes(_ layout: BoardMemoryLayout) throws {
        for heap in layout.heaps where "/reserved-memory/" + heap.nodeName != heapPath(heap.kind) {
            throw MemoryPlanError.unsupportedLayout(
                reason: "its \(heap.kind.rawValue) heap is /reserved-memory/\(heap.nodeName); "
                    + "memory_edit.sh edits \(heapPath(heap.kind)) only")
        }
    }

    /// The planned heaps and `vpu_mem` lie inside the banks (banks that touch count as one span), on multiples of
    /// `granularity` (whole MiB for planned sizes), and overlap neither each other nor any other reserved region
    /// with a fixed address.
    static func validate(_ placement: HeapPlacement, within layout: BoardMemoryLayout, granularity: UInt64 = mebibyte)
        throws
    {
        let planned = IONHeapKind.allCases.compactMap { kind in
            placement.heaps[kind].map { (name: "ion_\(kind.rawValue)_mem", range: $0) }
        } + [(name: "vpu_mem", range: placement.vpuFirmware)]

        var spans: [AddressRange] = []
        for bank in layout.banks.sorted(by: { $0.start < $1.start }) {
            if let last = spans.last, last.end == bank.start {
                spans[spans.count - 1].size += bank.size
            } else {
                spans.append(AddressRange(start: bank.start, size: bank.size))
            }
        }
        for region in planned {
            guard region.range.start % granularity == 0, region.range.size % granularity == 0 else {
                throw MemoryPlanError.notMiBAligned(region: region.name, range: region.range)
            }
            guard spans.contains(where: { $0.start <= region.range.start && region.range.end <= $0.end }),
                region.range.end != .max
            else {
                throw MemoryPlanError.outsideBank(region: region.name, range: region.range)
            }
        }
        // The heap nodes and vpu_mem are all rewritten or removed; every other region stays where it is.
        let rewritten = Set(IONHeapKind.allCases.map { "ion_\($0.rawValue)_mem" } + ["vpu_mem"])
        let others = layout.reservedRegions.compactMap { region -> (name: String, range: AddressRange)? in
            guard let start = region.start, !rewritten.contains(region.name) else { return nil }
            return (region.name, AddressRange(start: start, size: region.size))
        }
        for (index, region) in planned.enumerated() {
            for other in planned[(index + 1)...] + others where overlaps(region.range, other.range) {
                throw MemoryPlanError.overlap(
                    region: region.name, range: region.range, other: other.name, otherRange: other.range)
            }
        }
    }

    static func overlaps(_ a: AddressRange, _ b: AddressRange) -> Bool {
        a.size > 0 && b.size > 0 && a.start < b.end && b.start < a.end
    }

    /// No `memory-region` of the nodes tpudeploy manages (TPU, video decoder, `bitmain-ion` children), nor one that
    /// was valid before, points to a phandle no node has after the edits.
    static func checkReferences(in edited: FlatDeviceTree, comparedWith original: FlatDeviceTree, managed: HeapReferences)
        throws
    {
        for path in try edited.nodePaths() {
            guard let regions = try edited.u32Array("memory-region", at: path) else { continue }
            let isManaged = path == managed.tpuPath || path == managed.vdecPath || path.hasPrefix(ionPath + "/")
            for phandle in regions where try edited.path(forPhandle: phandle) == nil {
                let wasValid = try original.containsNode(at: path) && original.path(forPhandle: phandle) != nil
                if isManaged || wasValid { throw MemoryPlanError.danglingPhandle(path: path, phandle: phandle) }
            }
        }
    }

    /// Runs `body`, reporting dtb and layout errors as `MemoryPlanError`.
    static func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DeviceTreeError {
            throw MemoryPlanError.deviceTree(error)
        } catch let error as MemoryLayoutError {
            throw MemoryPlanError.layout(error)
        }
    }
}
