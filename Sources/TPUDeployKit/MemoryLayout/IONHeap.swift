/// The three ion carveout heaps of a BM1684X board, named by the `compatible` of their reserved region.
public enum IONHeapKind: String, Codable, Sendable, CaseIterable, Comparable {
    /// Tensor memory for the TPU (`npu-region`): what bmodels and LLM weights live in.
    case npu
    /// Video codec memory (`vpu-region`).
    case vpu
    /// Video post-processing memory (`vpp-region`).
    case vpp

    /// The `compatible` string of the heap's `/reserved-memory` node.
    public var compatible: String { rawValue + "-region" }

    public static func < (lhs: IONHeapKind, rhs: IONHeapKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// An ion heap as the dtb configures it: its reserved region's address and size.
public struct IONHeap: Codable, Sendable, Equatable {
    public var kind: IONHeapKind
    /// The reserved-memory node, e.g. `ion_npu_mem`.
    public var nodeName: String
    public var start: UInt64
    public var size: UInt64

    public init(kind: IONHeapKind, nodeName: String, start: UInt64, size: UInt64) {
        self.kind = kind
        self.nodeName = nodeName
        self.start = start
        self.size = size
    }

    public var end: UInt64 { AddressRange(start: start, size: size).end }
}
