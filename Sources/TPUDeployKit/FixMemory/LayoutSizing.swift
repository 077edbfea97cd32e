/// How the user asked for heap sizes: numbers, a board preset, or a model to make room for.
public enum LayoutSizing: Sendable, Equatable {
    /// `--npu --vpu --vpp` in MiB; 0 removes a heap.
    case explicit(HeapSizes)
    /// `--preset NAME` from the board profile.
    case preset(name: String, sizes: HeapSizes)
    /// `--preset factory` on a board whose profile states the vendor's exact factory layout.
    case exact(name: String, layout: ExactHeapLayout)
    /// `--for-model`: the model's NPU need plus the profile's headroom; VPU and VPP from the profile.
    case model(name: String, npuBytes: UInt64, policy: ModelLayoutPolicy)

    /// The request for the planner, given what the board allows. A model that cannot fit even at the
    /// maximum is refused here, with both numbers.
    public func request(limits: LayoutLimits) throws -> HeapRequest {
        let sizes: HeapSizes
        switch self {
        case .explicit(let given), .preset(_, let given):
            sizes = given
        case .exact(_, let layout):
            return layout.roundedRequest
        case .model(let name, let npuBytes, let policy):
            sizes = policy.heaps(forModelNeeding: npuBytes)
            let wanted = sizes.npu.resolved(maximum: limits.maxNPUMiB)
            if wanted > limits.maxNPUMiB {
                throw LayoutSizingError.modelDoesNotFit(
                    model: name, neededMiB: (npuBytes + (1 << 20) - 1) >> 20, headroomMiB: policy.npuHeadroomMiB,
                    maxNPUMiB: limits.maxNPUMiB)
            }
        }
        return HeapRequest(
            npuMiB: sizes.npu.resolved(maximum: limits.maxNPUMiB),
            vpuMiB: sizes.vpu.resolved(maximum: limits.maxVPUMiB),
            vppMiB: sizes.vpp.resolved(maximum: limits.maxVPPMiB))
    }

    /// Words for the plan's heading: "--npu 7168 --vpu 1024 --vpp 2048", "preset llm", "room for chatglm2-6b".
    public var summary: String {
        switch self {
        case .explicit(let sizes): return "npu \(sizes.npu), vpu \(sizes.vpu), vpp \(sizes.vpp)"
        case .preset(let name, _): return "preset \(name)"
        case .exact(let name, _): return "preset \(name) (the vendor's exact layout)"
        case .model(let name, let bytes, let policy):
            return "room for \(name) (\(ByteCount.mebibytes(bytes + (1 << 20) - 1)) MiB + \(policy.npuHeadroomMiB) MiB headroom)"
        }
    }
}

public enum LayoutSizingError: Error, CustomStringConvertible, Sendable, Equatable {
    case modelDoesNotFit(model: String, neededMiB: UInt64, headroomMiB: UInt64, maxNPUMiB: UInt64)

    public var description: String {
        switch self {
        case .modelDoesNotFit(let model, let needed, let headroom, let maximum):
            return "\(model) needs an NPU heap of \(needed + headroom) MiB (\(needed) MiB + \(headroom) MiB headroom), but this board allows at most \(maximum) MiB: it cannot hold this model. Use a board with more DDR, or a smaller (more quantized) model."
        }
    }
}

/// What the user chose on the command line, before the board profile turns it into sizes.
public enum LayoutChoice: Sendable, Equatable {
    case sizes(HeapSizes)
    case preset(String)
    case model(ModelProfile)
    /// A bmodel file: its own weights and neuron memory are the need.
    case modelFile(path: String, model: BModel)

    /// The sizing this choice means on `board`.
    public func sizing(for board: BoardProfile) throws -> LayoutSizing {
        switch self {
        case .sizes(let sizes): return .explicit(sizes)
        case .preset(let name):
            if name == BoardProfile.factoryPreset, let layout = board.factoryLayout { return .exact(name: name, layout: layout) }
            return .preset(name: name, sizes: try board.preset(name))
        case .model(let model): return .model(name: model.name, npuBytes: model.npuMemoryBytes, policy: board.modelPolicy)
        case .modelFile(let path, let model):
            try model.requireChip(board.chip, path: path)
            let name = path.split(separator: "/").last.map(String.init) ?? path
            return .model(name: name, npuBytes: model.npuMemoryBytes, policy: board.modelPolicy)
        }
    }
}
