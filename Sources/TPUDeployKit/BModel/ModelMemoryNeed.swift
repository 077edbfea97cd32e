/// The device memory a model takes once the engine serves it: every allocation the runtime and the engine make,
/// in the order they make them, because on SoC each one must fit inside one ion heap (see `HeapFit`).
///
/// - libbmrt (sophgo/libsophon `tpu-runtime/src/bmruntime_bmodel.cpp`): one allocation per distinct coefficient
///   range (`BmCoeff::Register`, shared by nets with the same weights), and the neuron memory of a
///   single-core chip shared by all nets: when a net's stage needs more than the block allocated so far, a new
///   block of that size is allocated and the old one is kept (`update_max_neuron_mem`: "DON'T free old memory").
/// - tpu-llm-engine (`Sources/TPULLMEngine/runners/*.cpp`): its I/O buffers and the KV cache, one
///   `bm_malloc_device_byte` each. The KV cache is sized from the `block_cache_N` (or `glm_block_cache_N`) nets'
///   history tensors, so a model's own SEQLEN, KV heads and dtype decide it.
public struct ModelMemoryNeed: Sendable, Codable, Equatable {
    public enum Purpose: String, Sendable, Codable {
        case weights, neuron, kvCache = "kv_cache", engineBuffer = "engine_buffer"
    }

    public struct Allocation: Sendable, Codable, Equatable {
        public var purpose: Purpose
        public var bytes: UInt64
    }

    /// Every allocation, in the order the runtime and then the engine make them.
    public var allocations: [Allocation]
    /// Whether the nets are laid out the way tpu-llm-engine runs them, so that its buffers are counted.
    public var engineLayoutKnown: Bool

    public var totalBytes: UInt64 { allocations.reduce(0) { $0 + $1.bytes } }
    public var largestAllocationBytes: UInt64 { allocations.map(\.bytes).max() ?? 0 }
    public func bytes(for purpose: Purpose) -> UInt64 {
        allocations.filter { $0.purpose == purpose }.reduce(0) { $0 + $1.bytes }
    }

    public init(allocations: [Allocation], engineLayoutKnown: Bool) {
        self.allocations = allocations
        self.engineLayoutKnown = engineLayoutKnown
    }

    /// What loading `model` and starting the engine on it allocates.
    public init(model: BModel) {
        var allocations: [Allocation] = []
        var seenWeights = Set<[UInt64]>()
        var neuronBlock: UInt64 = 0
        for net in model.nets {
            for stage in net.stages where stage.coefficientBytes > 0 {
                if seenWeights.insert([stage.coefficientStart ?? 0, stage.coefficientBytes]).inserted {
                    allocations.append(Allocation(purpose: .weights, bytes: stage.coefficientBytes))
                }
            }
            let largest = net.stages.map(\.contextBytes).max() ?? 0
            if largest > neuronBlock {
                allocations.append(Allocation(purpose: .neuron, bytes: largest))
                neuronBlock = largest
            }
        }
        let engine = EngineBuffers(model: model)
        allocations += engine?.allocations ?? []
        self.init(allocations: allocations, engineLayoutKnown: engine != nil)
    }
}

/// The buffers tpu-llm-engine allocates for a split LLM bmodel, mirroring its runners' constructors
/// (split_net_runner.cpp, llama2_runner.cpp, wizardcoder_runner.cpp); nil for nets it does not run.
struct EngineBuffers {
    var allocations: [ModelMemoryNeed.Allocation] = []

    init?(model: BModel) {
        func net(_ name: String) -> BModel.Net? { model.nets.first { $0.name == name } }
        let prefix = net("block_0") != nil ? "" : "glm_"
        var blocks: [BModel.Stage] = [], caches: [BModel.Stage] = []
        while let block = net("\(prefix)block_\(blocks.count)")?.stages.first,
              let cache = net("\(prefix)block_cache_\(blocks.count)")?.stages.first {
            blocks.append(block)
            caches.append(cache)
        }
        guard let block = blocks.first, let cache = caches.first, let embedding = net("embedding"),
              let head = net("lm_head")?.stages.first, let headIn = head.inputs.first, let headOut = head.outputs.first
        else { return nil }
        // The embedding's [1,1] stage: its own net in LLM-TPU, a second stage of `embedding` in the 2023 layouts.
        let step = net("embedding_cache")?.stages.first ?? embedding.stages.first { $0.inputs.first?.shape.last == 1 }
        let prompt = embedding.stages.first { $0.inputs.first?.shape.last != 1 } ?? embedding.stages.first
        func add(_ purpose: ModelMemoryNeed.Purpose, _ bytes: UInt64, times: Int = 1) {
            guard bytes > 0 else { return }
            allocations += Array(repeating: .init(purpose: purpose, bytes: bytes), count: times)
        }
        if cache.inputs.count == 5, block.inputs.count == 3, block.outputs.count == 3, cache.outputs.count == 3,
           let prompt, let step, let promptIds = prompt.inputs.first, let stepId = step.inputs.first {
            // Llama2 / ChatGLM2: (hidden, position, mask[, history K, history V]).
            add(.engineBuffer, promptIds.bytes)
            add(.engineBuffer, block.inputs[1].bytes)
            add(.engineBuffer, block.inputs[2].bytes)
            add(.engineBuffer, max(block.inputs[0].bytes, prompt.outputs.first?.bytes ?? 0), times: 2)
            add(.engineBuffer, stepId.bytes)
            add(.engineBuffer, cache.inputs[1].bytes)
            add(.engineBuffer, cache.inputs[2].bytes)
            add(.engineBuffer, max(cache.inputs[0].bytes, step.outputs.first?.bytes ?? 0), times: 2)
            add(.engineBuffer, headIn.bytes)
            add(.engineBuffer, headOut.bytes)
            for layer in caches {
                add(.kvCache, layer.inputs[3].bytes)
                add(.kvCache, layer.inputs[4].bytes)
            }
            // Llama2 (batch first) gets the new K/V row back in buffers of its own; ChatGLM2 writes in place.
            if block.inputs[0].shape.first == 1 {
                add(.engineBuffer, cache.outputs[1].bytes)
                add(.engineBuffer, cache.outputs[2].bytes)
            }
        } else if cache.inputs.count == 3, block.inputs.count == 2, cache.outputs.count == 2, block.inputs[0].shape.count == 3,
                  let prompt, let embedded = prompt.outputs.first {
            // WizardCoder: (hidden, past, mask); the embedding takes ids and positions.
            let seqLen = block.inputs[0].shape[1], hidden = block.inputs[0].shape[2]
            let elementBytes = embedded.shape.isEmpty ? 0 : embedded.bytes / max(1, embedded.shape.reduce(1, *))
            add(.engineBuffer, 4 * seqLen, times: 2)
            add(.engineBuffer, block.inputs[1].bytes)
            add(.engineBuffer, max(block.inputs[0].bytes, seqLen * hidden * elementBytes), times: 2)
            add(.engineBuffer, 4, times: 2)
            add(.engineBuffer, cache.inputs[2].bytes)
            add(.engineBuffer, max(cache.inputs[0].bytes, hidden * elementBytes), times: 2)
            add(.engineBuffer, cache.outputs[1].bytes)
            add(.engineBuffer, headIn.bytes)
            add(.engineBuffer, headOut.bytes)
            for layer in caches { add(.kvCache, layer.inputs[1].bytes) }
        } else {
            return nil
        }
    }
}

extension BModel {
    /// A model description made from values (tests, and models described without a file).
    init(chip: String, nets: [Net], neuronBytes: UInt64 = 0, binaryBytes: UInt64 = 0) {
        self.chip = chip
        self.version = ""
        self.nets = nets
        self.neuronBytes = neuronBytes
        self.binaryBytes = binaryBytes
    }
}
