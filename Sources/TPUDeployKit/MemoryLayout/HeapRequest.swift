/// The ion heap sizes a user asks for, in whole MiB, as `memory_edit.sh -c -npu N -vpu N -vpp N` takes them;
/// 0 removes that heap (its reserved region and its `bitmain-ion` child).
public struct HeapRequest: Sendable, Codable, Equatable, Hashable {
    public var npuMiB: UInt64
    public var vpuMiB: UInt64
    public var vppMiB: UInt64

    /// Spelled so that JSON keys read `npu_mib` and decode back.
    enum CodingKeys: String, CodingKey {
        case npuMiB = "npuMib"
        case vpuMiB = "vpuMib"
        case vppMiB = "vppMib"
    }

    public init(npuMiB: UInt64, vpuMiB: UInt64, vppMiB: UInt64) {
        self.npuMiB = npuMiB
        self.vpuMiB = vpuMiB
        self.vppMiB = vppMiB
    }

    /// The requested size of one heap in MiB (0 = remove).
    public func mebibytes(_ kind: IONHeapKind) -> UInt64 {
        switch kind {
        case .npu: return npuMiB
        case .vpu: return vpuMiB
        case .vpp: return vppMiB
        }
    }

    /// True when the request removes this heap.
    public func removes(_ kind: IONHeapKind) -> Bool { mebibytes(kind) == 0 }

    /// The request that keeps a layout's heaps as they are (sizes rounded down to whole MiB; absent heaps 0).
    public init(keeping layout: BoardMemoryLayout) {
        func size(_ kind: IONHeapKind) -> UInt64 { (layout.heap(kind)?.size ?? 0) / MemoryPlanner.mebibyte }
        self.init(npuMiB: size(.npu), vpuMiB: size(.vpu), vppMiB: size(.vpp))
    }
}
