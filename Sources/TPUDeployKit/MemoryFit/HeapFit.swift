/// The three ion heaps the runtime may allocate from on SoC, in bytes; nil when the board has no such heap.
public struct DeviceHeaps: Sendable, Codable, Equatable {
    public var npu: UInt64?
    public var vpp: UInt64?
    public var vpu: UInt64?

    public init(npu: UInt64?, vpp: UInt64?, vpu: UInt64?) {
        self.npu = npu
        self.vpp = vpp
        self.vpu = vpu
    }

    /// The heaps libbmlib tries, in its order. It numbers the heaps it finds npu 0, vpp 1, vpu 2 and tries the
    /// first `count` numbers (`bm_alloc_gmem` in sophgo/libsophon `bmlib/src/bmlib_memory.cpp`), so without a
    /// VPP heap the VPU heap is never tried.
    public var triedInOrder: [(name: String, bytes: UInt64)] {
        let slots: [(String, UInt64?)] = [("npu", npu), ("vpp", vpp), ("vpu", vpu)]
        let count = slots.filter { $0.1 != nil }.count
        return slots.prefix(count).compactMap { slot in slot.1.map { (slot.0, $0) } }
    }
}

/// Where a model's memory lands on a board's heaps, judged the way the runtime allocates: each allocation, in
/// order, in the first heap (NPU, then VPP, then VPU) with room for all of it.
public struct HeapFit: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// Everything in the NPU heap.
        case fitsNPU
        /// Loads, but part of it goes to the VPP/VPU heaps, which video decoding then cannot use.
        case spills(vppBytes: UInt64, vpuBytes: UInt64)
        /// The runtime would fail an allocation.
        case cannotLoad
    }

    public var verdict: Verdict
    public var needBytes: UInt64
    public var heaps: DeviceHeaps
    /// The allocation that found no room (cannot load), when the allocations are known.
    public var failedAllocationBytes: UInt64?
    public var largestAllocationBytes: UInt64?

    /// Places `allocations` (or, when only a total is known, that total as one sum over the heaps) on `heaps`.
    public init(need: ModelMemoryNeed?, totalBytes: UInt64, heaps: DeviceHeaps) {
        self.heaps = heaps
        let tried = heaps.triedInOrder
        var free = tried.map(\.bytes)
        guard let need else {
            needBytes = totalBytes
            largestAllocationBytes = nil
            failedAllocationBytes = nil
            let npu = heaps.npu ?? 0
            if totalBytes <= npu {
                verdict = .fitsNPU
            } else if totalBytes <= free.reduce(0, +) {
                var rest = totalBytes
                var used = [String: UInt64]()
                for (index, heap) in tried.enumerated() {
                    let taken = min(rest, free[index])
                    used[heap.name] = taken
                    rest -= taken
                }
                verdict = .spills(vppBytes: used["vpp"] ?? 0, vpuBytes: used["vpu"] ?? 0)
            } else {
                verdict = .cannotLoad
            }
            return
        }
        needBytes = need.totalBytes
        largestAllocationBytes = need.largestAllocationBytes
        failedAllocationBytes = nil
        var used = [String: UInt64]()
        for allocation in need.allocations {
            guard let index = free.indices.first(where: { free[$0] >= allocation.bytes }) else {
                failedAllocationBytes = allocation.bytes
                verdict = .cannotLoad
                return
            }
            free[index] -= allocation.bytes
            used[tried[index].name, default: 0] += allocation.bytes
        }
        let vpp = used["vpp"] ?? 0, vpu = used["vpu"] ?? 0
        verdict = vpp + vpu == 0 ? .fitsNPU : .spills(vppBytes: vpp, vpuBytes: vpu)
    }

    /// "NPU 3950 MiB, VPP 3072 MiB, VPU 2048 MiB" (absent heaps left out).
    public var heapSummary: String {
        [("NPU", heaps.npu), ("VPP", heaps.vpp), ("VPU", heaps.vpu)].compactMap { name, bytes in
            bytes.map { "\(name) \(MiB.down($0)) MiB" }
        }.joined(separator: ", ")
    }

    /// Why the model cannot load, with the numbers: the total against the heaps, or the one allocation that finds
    /// no heap large enough.
    public var refusalReason: String {
        let usable = heaps.triedInOrder.reduce(0) { $0 + $1.bytes }
        let largestHeap = heaps.triedInOrder.map(\.bytes).max() ?? 0
        var text = "it needs \(MiB.text(needBytes)) of device memory and the runtime can use \(MiB.down(usable)) MiB (\(heapSummary))"
        if heaps.vpp == nil, heaps.vpu != nil {
            text += "; without a VPP heap libbmlib never tries the VPU heap"
        }
        if let failed = failedAllocationBytes, failed > largestHeap || needBytes <= usable {
            text += "; one allocation of \(MiB.text(failed)) fits in none of the heaps (the largest is \(MiB.down(largestHeap)) MiB)"
        }
        return text
    }

    /// The warning for a model that loads only by spilling.
    public var spillWarning: String? {
        guard case .spills(let vpp, let vpu) = verdict else { return nil }
        var parts: [String] = []
        if vpp > 0 { parts.append("\(MiB.text(vpp)) in the VPP heap") }
        if vpu > 0 { parts.append("\(MiB.text(vpu)) in the VPU heap") }
        return "it needs \(MiB.text(needBytes)), more than the NPU heap (\(MiB.down(heaps.npu ?? 0)) MiB): the runtime will put "
            + parts.joined(separator: " and ") + ", which video decoding then cannot use"
    }
}

/// Byte counts as whole MiB: a need rounded up ("4610 MiB"), a heap rounded down, so neither looks roomier.
enum MiB {
    static func text(_ bytes: UInt64) -> String { "\(up(bytes)) MiB" }
    static func up(_ bytes: UInt64) -> UInt64 { (bytes + (1 << 20) - 1) >> 20 }
    static func down(_ bytes: UInt64) -> UInt64 { bytes >> 20 }
}
