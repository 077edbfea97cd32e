/// A model tpudeploy knows how to deploy: its family, shape and what it needs from the board.
/// Read from `Profiles/models/<name>.yaml`.
public struct ModelProfile: Sendable, Codable, Equatable {
    public var name: String
    public var description: String
    /// Prompt format and tokenizer family: chatglm2, llama2, wizardcoder, smollm2 and qwen2 (Llama2 nets, ChatML, BPE).
    public var family: String
    public var chip: String
    /// Transformer blocks in the bmodel (NUM_LAYERS in the vendor runners).
    public var layers: Int
    /// Context length the bmodel was compiled for.
    public var sequenceLength: Int
    /// Device memory the loaded model needs in the NPU heap: weights, KV cache and activations.
    public var npuMemoryBytes: UInt64
    /// The largest single allocation the runtime makes for it (a neuron block or one net's weights), when the
    /// profile states it: one allocation must fit in one heap, whatever the heaps hold together.
    public var largestAllocationBytes: UInt64?
    public var sourceFile: String

    static let families = ["chatglm2", "llama2", "wizardcoder", "smollm2", "qwen2"]

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["name", "description", "family", "chip", "layers", "seq_len", "npu_memory_mib", "largest_allocation_mib"])
        name = try mapping.string("name")
        description = try mapping.string("description")
        family = try mapping.choice("family", from: Self.families)
        chip = try mapping.choice("chip", from: ["BM1684X"])
        layers = try mapping.int("layers")
        if layers <= 0 { throw mapping.invalid("layers", "must be a positive number of transformer blocks") }
        sequenceLength = try mapping.int("seq_len")
        if sequenceLength <= 0 { throw mapping.invalid("seq_len", "must be positive") }
        let mebibytes = try mapping.int("npu_memory_mib")
        if mebibytes <= 0 { throw mapping.invalid("npu_memory_mib", "must be a positive number of MiB") }
        npuMemoryBytes = UInt64(mebibytes) << 20
        if let largest = try mapping.optionalInt("largest_allocation_mib") {
            if largest <= 0 || largest > mebibytes {
                throw mapping.invalid("largest_allocation_mib", "must be a positive number of MiB, at most npu_memory_mib")
            }
            largestAllocationBytes = UInt64(largest) << 20
        }
        sourceFile = mapping.file
    }
}
