/// The most device memory any layout of a board can give the runtime: the NPU, VPP and VPU heaps together, each
/// at most what memory_edit.sh allows, and together no more than leaves Linux its minimum.
public struct LayoutCapacity: Sendable, Codable, Equatable {
    /// The three heaps together, at most.
    public var heapBudgetBytes: UInt64
    /// The largest one heap can be (one allocation must fit in one heap); nil when the limits are not known.
    public var largestHeapBytes: UInt64?
    /// The largest the NPU heap can be: a model needing more spills into VPP/VPU on every layout of the board.
    public var largestNPUHeapBytes: UInt64?
    public var minimumLinuxMiB: UInt64

    public init(heapBudgetBytes: UInt64, largestHeapBytes: UInt64?, largestNPUHeapBytes: UInt64? = nil, minimumLinuxMiB: UInt64) {
        self.heapBudgetBytes = heapBudgetBytes
        self.largestHeapBytes = largestHeapBytes
        self.largestNPUHeapBytes = largestNPUHeapBytes
        self.minimumLinuxMiB = minimumLinuxMiB
    }

    /// From a board's layout: what its heaps and Linux share now (the DDR less the other carve-outs, which no
    /// heap edit moves in size), less the minimum Linux keeps, and no more than the heaps' maxima together.
    public init(layout: BoardMemoryLayout, limits: LayoutLimits?, minimumLinuxMiB: UInt64) {
        let heaps = layout.heaps.reduce(0) { $0 + $1.size }
        self.init(sharedBytes: layout.linuxBytes + heaps, limits: limits, minimumLinuxMiB: minimumLinuxMiB)
    }

    /// From `sharedBytes`: the DDR the heaps and Linux share (Linux's share plus the heaps of any one layout).
    public init(sharedBytes: UInt64, limits: LayoutLimits?, minimumLinuxMiB: UInt64) {
        var budget = sharedBytes.subtractingSaturating(minimumLinuxMiB << 20)
        if let limits { budget = min(budget, (limits.maxNPUMiB + limits.maxVPUMiB + limits.maxVPPMiB) << 20) }
        self.init(
            heapBudgetBytes: budget, largestHeapBytes: limits.map { max($0.maxNPUMiB, $0.maxVPUMiB, $0.maxVPPMiB) << 20 },
            largestNPUHeapBytes: limits.map { min($0.maxNPUMiB << 20, budget) }, minimumLinuxMiB: minimumLinuxMiB)
    }

    /// For a model that spills on the current heaps: what a new layout can do about it. When even the largest NPU
    /// heap this board allows is smaller than the need, no layout stops the spill, so no fix-memory is offered.
    func spillAdvice(needBytes: UInt64, fixCommand: String) -> (text: String, fixCommand: String?) {
        if let npu = largestNPUHeapBytes, needBytes > npu {
            return ("no layout of this board holds it in the NPU heap alone (at most \(MiB.down(npu)) MiB), so it always uses the VPP/VPU heaps here", nil)
        }
        return ("for a cleaner layout run `\(fixCommand)`", fixCommand)
    }

    /// Why no layout of the board holds `need` (total, and the largest allocation when known), or nil if one may.
    public func refusal(model: String, needBytes: UInt64, largestAllocationBytes: UInt64?) -> String? {
        var reason: String?
        if needBytes > heapBudgetBytes {
            reason = "\(model) needs \(MiB.text(needBytes)) of device memory, more than any memory layout of this board gives the NPU, VPP and VPU heaps together (at most \(MiB.down(heapBudgetBytes)) MiB while Linux keeps its \(minimumLinuxMiB) MiB)"
        } else if let largest = largestAllocationBytes, let heap = largestHeapBytes, largest > heap {
            reason = "\(model) needs one allocation of \(MiB.text(largest)), larger than any heap of this board can be (at most \(MiB.down(heap)) MiB)"
        }
        return reason.map { $0 + ": no layout of this board can hold it. Use a smaller build of the model (int4, or a shorter SEQLEN), or a PCIe accelerator card with more memory." }
    }
}
