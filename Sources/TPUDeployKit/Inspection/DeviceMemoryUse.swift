/// Device memory in use across the ion heaps the runtime allocates from.
///
/// On SoC, libbmlib allocates with heap mask 7 (NPU first, then VPP, then VPU), and bm-smi's Memory-Usage is
/// the sum over those heaps (sophgo/libsophon `bmlib/src/bmlib_memory.cpp` `bm_total_gmem`/`bm_avail_gmem`
/// add up every carveout heap; `bm-smi/src/bm_smi_display.cpp` shows total − avail). This is that sum,
/// computed from the kernel's own per-heap counters instead of bm-smi.
public struct DeviceMemoryUse: Sendable, Codable, Equatable {
    public var usedBytes: UInt64
    public var totalBytes: UInt64
    /// The heaps added up, in the runtime's order: npu, vpp, vpu (absent heaps left out).
    public var heaps: [String]

    /// The sum over the heaps present; nil when a present heap's use is unknown.
    public init?(_ heaps: [String: LiveHeap]) {
        var used: UInt64 = 0, total: UInt64 = 0, names: [String] = []
        for name in ["npu", "vpp", "vpu"] {
            guard let heap = heaps[name] else { continue }
            guard let inUse = heap.usedBytes else { return nil }
            used += inUse
            total += heap.totalBytes
            names.append(name)
        }
        guard !names.isEmpty else { return nil }
        usedBytes = used
        totalBytes = total
        self.heaps = names
    }
}
