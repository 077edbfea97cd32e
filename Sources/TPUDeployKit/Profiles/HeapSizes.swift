/// One heap size in a profile: a number of MiB (0 removes the heap), or `max`, the most the board allows.
public enum HeapSize: Sendable, Codable, Equatable, CustomStringConvertible {
    case mebibytes(UInt64)
    case maximum

    public var description: String {
        switch self {
        case .mebibytes(let value): return "\(value) MiB"
        case .maximum: return "max"
        }
    }

    /// The size in MiB, given the board's maximum for this heap.
    public func resolved(maximum: UInt64) -> UInt64 {
        switch self {
        case .mebibytes(let value): return value
        case .maximum: return maximum
        }
    }
}

/// NPU, VPU and VPP heap sizes, as a board profile's presets write them.
public struct HeapSizes: Sendable, Codable, Equatable {
    public var npu: HeapSize
    public var vpu: HeapSize
    public var vpp: HeapSize

    public init(npu: HeapSize, vpu: HeapSize, vpp: HeapSize) {
        self.npu = npu
        self.vpu = vpu
        self.vpp = vpp
    }

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["npu", "vpu", "vpp"])
        func size(_ key: String) throws -> HeapSize {
            if try mapping.optionalString(key) == "max" { return .maximum }
            let value = try mapping.int(key)
            guard value >= 0 else { throw mapping.invalid(key, "must be 0 (no heap), a size in MiB, or max") }
            return .mebibytes(UInt64(value))
        }
        npu = try size("npu")
        vpu = try size("vpu")
        vpp = try size("vpp")
    }
}

/// How `fix-memory --for-model` sizes the heaps: the model's NPU need plus headroom, the rest fixed.
public struct ModelLayoutPolicy: Sendable, Codable, Equatable {
    /// Added to the model's declared NPU need, for the runtime's own allocations.
    public var npuHeadroomMiB: UInt64
    public var vpuMiB: UInt64
    public var vppMiB: UInt64

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["npu_headroom", "vpu", "vpp"])
        func size(_ key: String) throws -> UInt64 {
            let value = try mapping.int(key)
            guard value >= 0 else { throw mapping.invalid(key, "must be a size in MiB (0 or more)") }
            return UInt64(value)
        }
        npuHeadroomMiB = try size("npu_headroom")
        vpuMiB = try size("vpu")
        vppMiB = try size("vpp")
    }

    /// The heaps for a model that needs `npuBytes` of NPU memory, rounded up to whole MiB.
    public func heaps(forModelNeeding npuBytes: UInt64) -> HeapSizes {
        let needMiB = (npuBytes + (1 << 20) - 1) >> 20
        return HeapSizes(npu: .mebibytes(needMiB + npuHeadroomMiB), vpu: .mebibytes(vpuMiB), vpp: .mebibytes(vppMiB))
    }
}
