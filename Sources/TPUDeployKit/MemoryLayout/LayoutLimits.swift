/// The largest heap sizes a board's dtb allows, in MiB: what `memory_edit.sh -p` prints as "max npu/vpu/vpp size".
///
/// These are the printed maxima; one request can lower one of them: with the vpu heap removed and a vpp heap kept,
/// the vpp heap must leave 1 MiB free at the top of its bank, so `maxVPPMiB - 1` is then the largest vpp heap.
public struct LayoutLimits: Sendable, Codable, Equatable {
    public var maxNPUMiB: UInt64
    public var maxVPUMiB: UInt64
    public var maxVPPMiB: UInt64

    /// Spelled so that JSON keys read `max_npu_mib` and decode back.
    enum CodingKeys: String, CodingKey {
        case maxNPUMiB = "maxNpuMib"
        case maxVPUMiB = "maxVpuMib"
        case maxVPPMiB = "maxVppMib"
    }

    public init(maxNPUMiB: UInt64, maxVPUMiB: UInt64, maxVPPMiB: UInt64) {
        self.maxNPUMiB = maxNPUMiB
        self.maxVPUMiB = maxVPUMiB
        self.maxVPPMiB = maxVPPMiB
    }

    /// The printed maximum of one heap.
    public func maxMiB(_ kind: IONHeapKind) -> UInt64 {
        switch kind {
        case .npu: return maxNPUMiB
        case .vpu: return maxVPUMiB
        case .vpp: return maxVPPMiB
        }
    }
}
