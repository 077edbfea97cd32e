/// The nodes that refer to the ion heaps by phandle, and the phandle each heap gets, chosen as memory_edit.sh
/// chooses them: npu and vpp from the TPU node's `memory-region` entries 3 and 4, vpu from the existing
/// `ion_vpu_mem`, else the first unused number after the lowest phandle in use.
struct HeapReferences: Sendable, Equatable {
    static let tpuCompatible = "bitmain,tpu-1684"
    static let vdecCompatible = "bitmain,bitmain-vdec"

    var tpuPath: String
    var tpuRegions: [UInt32]
    var vdecPath: String
    var vdecRegions: [UInt32]
    /// The phandle each heap's region has (or gets) whether the request keeps it or not.
    var phandles: [IONHeapKind: UInt32]
    /// True when the vpu phandle is new (no `ion_vpu_mem` had one).
    var vpuPhandleIsNew: Bool

    init(tree: FlatDeviceTree) throws {
        guard let tpu = try tree.nodePaths(compatibleWith: Self.tpuCompatible).first else {
            throw MemoryPlanError.unsupportedLayout(reason: "it has no TPU node (compatible \"\(Self.tpuCompatible)\")")
        }
        guard let tpuRegions = try tree.u32Array("memory-region", at: tpu), tpuRegions.count >= 5 else {
            throw MemoryPlanError.unsupportedLayout(
                reason: "its TPU node \(tpu) has no memory-region with the npu and vpp regions as entries 4 and 5")
        }
        guard let vdec = try tree.nodePaths(compatibleWith: Self.vdecCompatible).first else {
            throw MemoryPlanError.unsupportedLayout(reason: "it has no video decoder node (compatible \"\(Self.vdecCompatible)\")")
        }
        self.tpuPath = tpu
        self.tpuRegions = tpuRegions
        self.vdecPath = vdec
        self.vdecRegions = try tree.u32Array("memory-region", at: vdec) ?? []

        let npu = tpuRegions[3]
        let vpp = tpuRegions[4]
        for (kind, phandle) in [(IONHeapKind.npu, npu), (.vpp, vpp)] {
            guard phandle != 0, phandle != .max else {
                throw MemoryPlanError.unsupportedLayout(reason: "the TPU node's \(kind.rawValue) entry is not a phandle")
            }
            let owner = try tree.path(forPhandle: phandle)
            if let owner, owner != MemoryPlanner.heapPath(kind) {
                throw MemoryPlanError.unsupportedLayout(
                    reason: "the TPU node's \(kind.rawValue) region is \(owner), not \(MemoryPlanner.heapPath(kind))")
            }
        }
        guard npu != vpp else {
            throw MemoryPlanError.unsupportedLayout(reason: "the TPU node names the same phandle for the npu and vpp regions")
        }
        var phandles: [IONHeapKind: UInt32] = [.npu: npu, .vpp: vpp]
        let vpuNode = MemoryPlanner.heapPath(.vpu)
        if tree.containsNode(at: vpuNode), let existing = try tree.phandle(of: vpuNode) {
            phandles[.vpu] = existing
            vpuPhandleIsNew = false
        } else {
            phandles[.vpu] = Self.firstFreePhandle(among: try tree.allPhandles() + [npu, vpp])
            vpuPhandleIsNew = true
        }
        if phandles[.vpu] == npu || phandles[.vpu] == vpp {
            throw MemoryPlanError.unsupportedLayout(reason: "ion_vpu_mem has the phandle of the npu or vpp region")
        }
        self.phandles = phandles
    }

    /// memory_edit.sh's choice of a new phandle: after sorting the phandles in use, one more than the first number
    /// followed by a gap, else one more than the largest.
    static func firstFreePhandle(among used: [UInt32]) -> UInt32 {
        let sorted = used.sorted()
        guard var candidate = sorted.first.map({ $0 + 1 }) else { return 1 }
        for (previous, next) in zip(sorted, sorted.dropFirst()) {
            if next > previous + 1 { return previous + 1 }
            candidate = next + 1
        }
        return candidate
    }
}
