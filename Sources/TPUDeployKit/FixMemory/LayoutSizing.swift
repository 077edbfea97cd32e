/// How the user asked for heap sizes: numbers, a board preset, or a model to make room for.
public enum LayoutSizing: Sendable, Equatable {
    /// `--npu --vpu --vpp` in MiB; 0 removes a heap.
    case explicit(HeapSizes)
    /// `--preset NAME` from the board profile.
    case preset(name: String, sizes: HeapSizes)
    /// `--preset factory` on a board whose profile states the vendor's exact factory layout.
    case exact(name: String, layout: ExactHeapLayout)
    /// `--for-model`: the model's whole need (weights, neuron memory, KV cache, engine buffers) plus the
    /// profile's headroom in the NPU heap; VPU and VPP from the profile. `largestAllocationBytes` when the need
    /// comes from a bmodel file.
    case model(name: String, npuBytes: UInt64, largestAllocationBytes: UInt64? = nil, policy: ModelLayoutPolicy)

    /// The request for the planner, given what the board allows. A model that no layout of the board holds
    /// (`capacity`) is refused in one line saying what would fit; one that needs more than the NPU heap can be
    /// gets the largest NPU heap and the rest in VPP (then VPU), where the runtime spills; one that not even the
    /// three heaps at their maxima hold is refused with the numbers.
    public func request(limits: LayoutLimits, capacity: LayoutCapacity? = nil) throws -> HeapRequest {
        var sizes: HeapSizes
        switch self {
        case .explicit(let given), .preset(_, let given):
            sizes = given
        case .exact(_, let layout):
            return layout.roundedRequest
        case .model(let name, let npuBytes, let largest, let policy):
            if let line = capacity?.refusal(model: name, needBytes: npuBytes, largestAllocationBytes: largest) {
                throw LayoutSizingError.noLayoutFits(reason: line)
            }
            sizes = policy.heaps(forModelNeeding: npuBytes)
            let wanted = sizes.npu.resolved(maximum: limits.maxNPUMiB)
            if wanted > limits.maxNPUMiB {
                // The runtime allocates from the NPU heap, then VPP, then VPU (heap mask 7): the NPU heap at its
                // maximum, the rest in a larger VPP heap, then VPU. The planner still keeps Linux its minimum.
                let rest = wanted - limits.maxNPUMiB
                let vpp = min(limits.maxVPPMiB, max(sizes.vpp.resolved(maximum: limits.maxVPPMiB), rest))
                let vpu = max(sizes.vpu.resolved(maximum: limits.maxVPUMiB), rest - min(rest, vpp))
                guard vpu <= limits.maxVPUMiB else {
                    throw LayoutSizingError.modelDoesNotFit(
                        model: name, neededMiB: (npuBytes + (1 << 20) - 1) >> 20, headroomMiB: policy.npuHeadroomMiB,
                        maxNPUMiB: limits.maxNPUMiB)
                }
                sizes = HeapSizes(npu: .maximum, vpu: .mebibytes(vpu), vpp: .mebibytes(vpp))
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
        case .model(let name, let bytes, _, let policy):
            return "room for \(name) (\(ByteCount.mebibytes(bytes + (1 << 20) - 1)) MiB + \(policy.npuHeadroomMiB) MiB headroom)"
        }
    }
}

public enum LayoutSizingError: Error, CustomStringConvertible, Sendable, Equatable {
    case modelDoesNotFit(model: String, neededMiB: UInt64, headroomMiB: UInt64, maxNPUMiB: UInt64)
    case noLayoutFits(reason: String)

    public var description: String {
        switch self {
        case .modelDoesNotFit(let model, let needed, let headroom, let maximum):
            return "\(model) needs \(needed + headroom) MiB of heaps (\(needed) MiB + \(headroom) MiB headroom), but this board allows an NPU heap of at most \(maximum) MiB and the VPP and VPU heaps cannot hold the rest: it cannot hold this model. Use a board with more DDR, or a smaller (more quantized) model."
        case .noLayoutFits(let reason):
            return reason
        }
    }
}

/// What the user chose on the command line, before the board profile turns it into sizes.
public enum LayoutChoice: Sendable, Equatable {
    case sizes(HeapSizes)
    case preset(String)
    case model(ModelProfile)
    /// A bmodel file: what loading and serving it allocates is the need (`ModelMemoryNeed`).
    case modelFile(path: String, model: BModel)

    /// The sizing this choice means on `board`.
    public func sizing(for board: BoardProfile) throws -> LayoutSizing {
        switch self {
        case .sizes(let sizes): return .explicit(sizes)
        case .preset(let name):
            if name == BoardProfile.factoryPreset, let layout = board.factoryLayout { return .exact(name: name, layout: layout) }
            return .preset(name: name, sizes: try board.preset(name))
        case .model(let model):
            return .model(name: model.name, npuBytes: model.npuMemoryBytes, largestAllocationBytes: model.largestAllocationBytes, policy: board.modelPolicy)
        case .modelFile(let path, let model):
            try model.requireChip(board.chip, path: path)
            let name = path.split(separator: "/").last.map(String.init) ?? path
            let need = ModelMemoryNeed(model: model)
            return .model(name: name, npuBytes: need.totalBytes, largestAllocationBytes: need.largestAllocationBytes, policy: board.modelPolicy)
        }
    }
}

extension LayoutSizingError: CodedError {
    public var errorCode: String {
        switch self {
        case .modelDoesNotFit: return "model_too_large"
        case .noLayoutFits: return "no_layout_fits"
        }
    }
}
