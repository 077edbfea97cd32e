import Foundation
import Testing
@testable import TPUDeployKit

private let profiles = ProfileStore(directory: URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Profiles"))
private let mib: UInt64 = 1 << 20

/// A split LLM bmodel description with real dimensions, built from values: LLM-TPU's Llama2 layout (batch first),
/// or ChatGLM2's (sequence first), fp16 activations, `blockWeights` bytes of weights per block.
private func splitModel(layers: Int, hidden: UInt64, kvHeads: UInt64, headDim: UInt64, seqLen: UInt64, vocab: UInt64,
                        blockWeights: UInt64, sequenceFirst: Bool = false, prefix: String = "", neuron: UInt64 = 64 << 20) -> BModel {
    func tensor(_ name: String, _ type: UInt32, _ shape: [UInt64]) -> BModel.TensorInfo {
        BModel.TensorInfo(name: name, dataType: type, shape: shape, bytes: shape.reduce(1, *) * (type == 6 || type == 0 ? 4 : 2))
    }
    let fp16: UInt32 = 1, int32: UInt32 = 6
    let S = seqLen, H = hidden
    func states(_ n: UInt64) -> [UInt64] { sequenceFirst ? [n, 1, H] : [1, n, H] }
    func kv(_ n: UInt64) -> [UInt64] { sequenceFirst ? [n, 1, kvHeads, headDim] : [1, n, kvHeads, headDim] }
    func stage(_ inputs: [BModel.TensorInfo], _ outputs: [BModel.TensorInfo], start: UInt64, bytes: UInt64, context: UInt64) -> BModel.Stage {
        BModel.Stage(inputs: inputs, outputs: outputs, contextBytes: context, coefficientStart: start, coefficientBytes: bytes)
    }
    let embeddingBytes = vocab * H * 2
    var nets = [
        BModel.Net(name: "embedding", stages: [stage([tensor("input_ids", int32, [1, S])], [tensor("input_states", fp16, states(S))],
                                                      start: 0, bytes: embeddingBytes, context: 4 << 20)]),
        BModel.Net(name: "embedding_cache", stages: [stage([tensor("input_ids", int32, [1, 1])], [tensor("input_states", fp16, states(1))],
                                                            start: 0, bytes: embeddingBytes, context: 1 << 20)]),
    ]
    for layer in 0..<UInt64(layers) {
        let start = embeddingBytes + layer * blockWeights
        nets.append(BModel.Net(name: "\(prefix)block_\(layer)", stages: [stage(
            [tensor("input_states", fp16, states(S)), tensor("position_ids", int32, [1, S]), tensor("attention_mask", fp16, [1, 1, S, S])],
            [tensor("hidden_states", fp16, states(S)), tensor("past_k", fp16, kv(S)), tensor("past_v", fp16, kv(S))],
            start: start, bytes: blockWeights, context: neuron)]))
        nets.append(BModel.Net(name: "\(prefix)block_cache_\(layer)", stages: [stage(
            [tensor("input_states", fp16, [1, 1, H]), tensor("position_ids", int32, [1, 1]), tensor("attention_mask", fp16, [1, 1, 1, S + 1]),
             tensor("history_k", fp16, kv(S)), tensor("history_v", fp16, kv(S))],
            [tensor("hidden_states", fp16, [1, 1, H]), tensor("present_k", fp16, kv(sequenceFirst ? S : 1)),
             tensor("present_v", fp16, kv(sequenceFirst ? S : 1))],
            start: start, bytes: blockWeights, context: 2 << 20)]))
    }
    let headStart = embeddingBytes + UInt64(layers) * blockWeights
    nets.append(BModel.Net(name: "lm_head", stages: [stage([tensor("hidden_states", fp16, [1, H])], [tensor("token", int32, [1, 1])],
                                                          start: headStart, bytes: embeddingBytes, context: 1 << 20)]))
    return BModel(chip: "BM1684X", nets: nets)
}

@Suite struct ModelMemoryNeedTests {
    @Test func llama2KVCacheComesFromTheCacheNetsHistoryTensors() {
        let seven = ModelMemoryNeed(model: splitModel(layers: 32, hidden: 4096, kvHeads: 32, headDim: 128, seqLen: 512, vocab: 32000, blockWeights: 193 * mib))
        #expect(seven.engineLayoutKnown)
        #expect(seven.bytes(for: .kvCache) == 256 * mib)
        let thirteen = ModelMemoryNeed(model: splitModel(layers: 40, hidden: 5120, kvHeads: 40, headDim: 128, seqLen: 512, vocab: 32000, blockWeights: 302 * mib))
        #expect(thirteen.bytes(for: .kvCache) == 400 * mib)
        // ChatGLM2: two KV groups, sequence first, blocks named glm_block_N as in the 2023 repository.
        let glm = ModelMemoryNeed(model: splitModel(layers: 28, hidden: 4096, kvHeads: 2, headDim: 128, seqLen: 512, vocab: 65024,
                                                    blockWeights: 200 * mib, sequenceFirst: true, prefix: "glm_"))
        #expect(glm.bytes(for: .kvCache) == 14 * mib)
    }

    @Test func weightsOnceNeuronSharedAndTheEnginesBuffersInItsOrder() {
        let need = ModelMemoryNeed(model: splitModel(layers: 2, hidden: 64, kvHeads: 2, headDim: 16, seqLen: 8, vocab: 100, blockWeights: mib))
        // embedding and embedding_cache share one range, each block and its cache net another: 1 + 2 + lm_head.
        let table: UInt64 = 100 * 64 * 2
        let weights: [UInt64] = need.allocations.filter { $0.purpose == .weights }.map(\.bytes)
        #expect(weights == [table, mib, mib, table])
        // The neuron block grows when a net needs more than the largest so far; the old block is kept (bmrt).
        let neuron: [UInt64] = need.allocations.filter { $0.purpose == .neuron }.map(\.bytes)
        #expect(neuron == [4 << 20, 64 << 20])
        // Engine buffers: prompt ids, positions, mask, 2 hidden, step id, position, mask, 2 step hidden, lm_head in and
        // out, then K and V per layer, then Llama2's new K/V rows.
        let engine: [UInt64] = need.allocations.drop { $0.purpose != .engineBuffer && $0.purpose != .kvCache }.map(\.bytes)
        let kvLayer: UInt64 = 8 * 2 * 16 * 2
        let expected: [UInt64] = [32, 32, 128, 1024, 1024, 4, 4, 18, 128, 128, 128, 4, kvLayer, kvLayer, kvLayer, kvLayer, 64, 64]
        #expect(engine == expected)
        #expect(need.totalBytes == need.allocations.reduce(0) { $0 + $1.bytes })
        #expect(need.largestAllocationBytes == 64 << 20)
    }

    @Test func aFixtureWithoutTheEnginesLayoutCountsTheRuntimeOnly() throws {
        let model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        let need = ModelMemoryNeed(model: model)
        #expect(!need.engineLayoutKnown)
        #expect(need.bytes(for: .weights) == model.coefficientBytes)
        // The stages' ctx sizes, not the model's declared neuron_size: what bmrt allocates.
        let neuron: [UInt64] = need.allocations.filter { $0.purpose == .neuron }.map(\.bytes)
        #expect(neuron == [4_196_352, 67_108_864])
        #expect(need.totalBytes == model.coefficientBytes + 4_196_352 + 67_108_864)
    }

    /// The figures in the real models' profiles follow from their dimensions (the comments in each file).
    @Test func realProfilesCarryTheKVCache() throws {
        let seven = try profiles.model(named: "llama2-7b"), thirteen = try profiles.model(named: "llama2-13b")
        #expect(seven.npuMemoryBytes == (6676 + 64 + 256 + 9) * mib)
        #expect(thirteen.npuMemoryBytes == (12725 + 80 + 400 + 11) * mib)
        #expect(try profiles.model(named: "chatglm2-6b").npuMemoryBytes == (6362 + 68 + 14 + 9) * mib)
    }
}

@Suite struct HeapFitTests {
    private func need(_ sizes: [UInt64]) -> ModelMemoryNeed {
        ModelMemoryNeed(allocations: sizes.map { .init(purpose: .weights, bytes: $0 * mib) }, engineLayoutKnown: true)
    }
    private let factory = DeviceHeaps(npu: 3950 * mib, vpp: 3072 * mib, vpu: 2048 * mib)

    @Test func fitsTheNPUHeap() {
        let fit = HeapFit(need: need([2000, 1900]), totalBytes: 0, heaps: factory)
        #expect(fit.verdict == .fitsNPU)
        #expect(fit.spillWarning == nil)
    }

    @Test func spillsIntoVPPThenVPU() {
        // 2000 + 1900 fill the NPU heap; 3000 goes to VPP; 1000 finds no room in VPP (72 MiB left) and goes to VPU.
        let fit = HeapFit(need: need([2000, 1900, 3000, 1000]), totalBytes: 0, heaps: factory)
        #expect(fit.verdict == .spills(vppBytes: 3000 * mib, vpuBytes: 1000 * mib))
        #expect(fit.spillWarning == "it needs 7900 MiB, more than the NPU heap (3950 MiB): the runtime will put 3000 MiB in the VPP heap and 1000 MiB in the VPU heap, which video decoding then cannot use")
    }

    @Test func oneAllocationLargerThanEveryHeapCannotLoad() {
        let fit = HeapFit(need: need([10, 4608]), totalBytes: 0, heaps: factory)
        #expect(fit.verdict == .cannotLoad)
        #expect(fit.refusalReason == "it needs 4618 MiB of device memory and the runtime can use 9070 MiB (NPU 3950 MiB, VPP 3072 MiB, VPU 2048 MiB); one allocation of 4608 MiB fits in none of the heaps (the largest is 3950 MiB)")
    }

    @Test func moreThanAllHeapsCannotLoad() {
        let fit = HeapFit(need: nil, totalBytes: 9100 * mib, heaps: factory)
        #expect(fit.verdict == .cannotLoad)
        #expect(fit.refusalReason == "it needs 9100 MiB of device memory and the runtime can use 9070 MiB (NPU 3950 MiB, VPP 3072 MiB, VPU 2048 MiB)")
        #expect(HeapFit(need: nil, totalBytes: 5000 * mib, heaps: factory).verdict == .spills(vppBytes: 1050 * mib, vpuBytes: 0))
    }

    @Test func withoutAVPPHeapTheVPUHeapIsNeverTried() {
        let heaps = DeviceHeaps(npu: 3950 * mib, vpp: nil, vpu: 2048 * mib)
        #expect(heaps.triedInOrder.map(\.name) == ["npu"])
        let fit = HeapFit(need: need([3000, 1000]), totalBytes: 0, heaps: heaps)
        #expect(fit.verdict == .cannotLoad)
        #expect(fit.refusalReason.contains("without a VPP heap libbmlib never tries the VPU heap"))
        #expect(DeviceHeaps(npu: 1, vpp: 2, vpu: nil).triedInOrder.map(\.name) == ["npu", "vpp"])
    }
}

@Suite struct LayoutCapacityTests {
    /// A 16 GB EVB: 16384 MiB less 770.25 MiB of other carve-outs (armfw, arm, smmu, bl31, crash kernel, ramoops,
    /// VPU firmware) is shared by Linux and the heaps.
    let evb = LayoutCapacity(sharedBytes: (16384 << 20) - (770 << 20) - (256 << 10),
                             limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096), minimumLinuxMiB: 2048)
    let sm7m_12g = LayoutCapacity(sharedBytes: (12288 << 20) - (770 << 20) - (256 << 10),
                                 limits: LayoutLimits(maxNPUMiB: 3515, maxVPUMiB: 3071, maxVPPMiB: 4096), minimumLinuxMiB: 2048)

    @Test func aModelLargerThanEveryLayoutGetsOneLine() throws {
        let thirteen = try profiles.model(named: "llama2-13b")
        let line = try #require(sm7m_12g.refusal(model: "llama2-13b", needBytes: thirteen.npuMemoryBytes, largestAllocationBytes: nil))
        #expect(line == "llama2-13b needs 13216 MiB of device memory, more than any memory layout of this board gives the NPU, VPP and VPU heaps together (at most 9469 MiB while Linux keeps its 2048 MiB): no layout of this board can hold it. Use a smaller build of the model (int4, or a shorter SEQLEN), or a PCIe accelerator card with more memory.")
        #expect(evb.heapBudgetBytes >> 20 == 13565)
        // 13B int8 (13216 MiB) stays under a 16 GB board's 13565 MiB: it loads there with every heap near its maximum.
        #expect(evb.refusal(model: "llama2-13b", needBytes: thirteen.npuMemoryBytes, largestAllocationBytes: 400 * mib) == nil)
        #expect(evb.refusal(model: "m", needBytes: 14000 * mib, largestAllocationBytes: nil) != nil)
        #expect(evb.refusal(model: "m", needBytes: 8000 * mib, largestAllocationBytes: 7700 * mib)?.contains("one allocation of 7700 MiB, larger than any heap of this board can be (at most 7615 MiB)") == true)
    }

    @Test func fixMemoryForAModelNoLayoutHoldsRefusesInOneLine() throws {
        let sizing = try LayoutChoice.model(profiles.model(named: "llama2-13b")).sizing(for: profiles.board(named: "sm7m"))
        #expect(throws: LayoutSizingError.noLayoutFits(reason: sm7m_12g.refusal(model: "llama2-13b", needBytes: 13216 * mib, largestAllocationBytes: nil)!)) {
            try sizing.request(limits: LayoutLimits(maxNPUMiB: 3515, maxVPUMiB: 3071, maxVPPMiB: 4096), capacity: sm7m_12g)
        }
        // One a layout holds, but not the NPU heap alone: the NPU heap at its maximum, the rest in VPP, then VPU,
        // the order the runtime spills in (13216 + 256 MiB = 7615 + 4096 + 1761).
        let big = try LayoutChoice.model(profiles.model(named: "llama2-13b")).sizing(for: profiles.board(named: "1684x_evb"))
        let request = try big.request(limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096), capacity: evb)
        #expect([request.npuMiB, request.vppMiB, request.vpuMiB] == [7615, 4096, 1761])
    }
}

@Suite struct PushMemoryPreflightTests {
    private func board(_ heaps: DeviceHeaps, capacity: LayoutCapacity? = nil) -> BoardFacts {
        BoardFacts(target: "root@b", arch: "aarch64", chip: "BM1684X", boardProfile: "1684x_evb", liveHeaps: heaps, capacity: capacity,
                   freeBytes: 100 << 30, remoteDir: "/data/x")
    }
    private let factory = DeviceHeaps(npu: 3950 * mib, vpp: 3072 * mib, vpu: 2048 * mib)

    @Test func aModelThatSpillsIsPushedWithAWarning() throws {
        let needs = ModelNeeds(name: "chatglm2-6b", fixMemoryArgument: "chatglm2-6b", chip: "BM1684X", totalBytes: 6453 * mib)
        let warnings = try PushPreflight.check(board: board(factory), model: needs, bytesNeeded: 1)
        #expect(warnings == ["chatglm2-6b will load, but it needs 6453 MiB, more than the NPU heap (3950 MiB): the runtime will put 2503 MiB in the VPP heap, which video decoding then cannot use; for a cleaner layout run `tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b`"])
    }

    /// Llama2-13B int8 on an AirBox's factory heaps (NPU 7615, VPP 3808, VPU 2943 MiB): it loads by spilling, and
    /// since the NPU heap can be no larger, fix-memory is not offered as the way out.
    @Test func aSpillNoLayoutAvoidsIsSaidWithoutAFixMemoryCommand() throws {
        let airbox = DeviceHeaps(npu: 7615 * mib, vpp: 3808 * mib, vpu: 0xB7FF_0000)
        let capacity = LayoutCapacity(sharedBytes: (16384 - 770) * mib, limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096),
                                      minimumLinuxMiB: 2048)
        let needs = ModelNeeds(name: "llama2-13b", fixMemoryArgument: "llama2-13b", chip: "BM1684X", totalBytes: 13216 * mib)
        let warnings = try PushPreflight.check(board: board(airbox, capacity: capacity), model: needs, bytesNeeded: 1)
        #expect(warnings == ["llama2-13b will load, but it needs 13216 MiB, more than the NPU heap (7615 MiB): the runtime will put 3808 MiB in the VPP heap and 1793 MiB in the VPU heap, which video decoding then cannot use; no layout of this board holds it in the NPU heap alone (at most 7615 MiB), so it always uses the VPP/VPU heaps here"])
        // One the largest NPU heap would hold keeps the fix-memory command.
        let seven = ModelNeeds(name: "llama2-7b", fixMemoryArgument: "llama2-7b", chip: "BM1684X", totalBytes: 7005 * mib)
        let factory = try PushPreflight.check(board: board(self.factory, capacity: capacity), model: seven, bytesNeeded: 1)
        #expect(factory.count == 1 && factory[0].hasSuffix("for a cleaner layout run `tpudeploy fix-memory --board 1684x_evb --for-model llama2-7b`"), "\(factory)")
    }

    @Test func aModelNoLayoutHoldsIsRefusedInOneLine() throws {
        let capacity = LayoutCapacity(sharedBytes: 11518 * mib, limits: nil, minimumLinuxMiB: 2048)
        let needs = ModelNeeds(name: "llama2-13b", fixMemoryArgument: "llama2-13b", chip: "BM1684X", totalBytes: 13216 * mib)
        #expect(throws: PushError.noLayoutFits(reason: capacity.refusal(model: "llama2-13b", needBytes: 13216 * mib, largestAllocationBytes: nil)!)) {
            try PushPreflight.check(board: self.board(self.factory, capacity: capacity), model: needs, bytesNeeded: 1)
        }
    }
}

@Suite struct MemoryDiagnosisTests {
    let model: ModelProfile
    init() throws { model = try profiles.model(named: "llama2-7b") }
    private let factory = DeviceHeaps(npu: 0xF6E0_0000, vpp: 3072 * mib, vpu: 2048 * mib)

    @Test func tooSmallHeapsGiveTheFixMemoryCommandAndTheNumbers() {
        let small = DeviceHeaps(npu: 0xF6E0_0000, vpp: 1024 * mib, vpu: nil)
        let diagnosis = MemoryDiagnosis(model: model, live: small, configured: small, capacity: nil, boardProfile: "1684x_evb")
        #expect(diagnosis.verdict == .tooSmall)
        #expect(diagnosis.fixCommand == "tpudeploy fix-memory --board 1684x_evb --for-model llama2-7b")
        #expect(diagnosis.message == "llama2-7b cannot load on the live heaps: it needs 7005 MiB of device memory and the runtime can use 4974 MiB (NPU 3950 MiB, VPP 1024 MiB). Run `tpudeploy fix-memory --board 1684x_evb --for-model llama2-7b`")
    }

    @Test func spillingIsSaidWithTheCleanerLayoutCommand() {
        let diagnosis = MemoryDiagnosis(model: model, live: factory, configured: factory, capacity: nil, boardProfile: "1684x_evb")
        #expect(diagnosis.verdict == .spills)
        #expect(diagnosis.usableHeapBytes == 0xF6E0_0000 + 5120 * mib)
        #expect(diagnosis.message.contains("3055 MiB in the VPP heap"))
    }

    @Test func aConfiguredButNotLiveLayoutMeansReboot() {
        let small = DeviceHeaps(npu: 0xF6E0_0000, vpp: nil, vpu: nil)
        let diagnosis = MemoryDiagnosis(model: model, live: small, configured: DeviceHeaps(npu: 7600 * mib, vpp: nil, vpu: nil), capacity: nil, boardProfile: "1684x_evb")
        #expect(diagnosis.verdict == .rebootPending)
    }

    @Test func aLargeEnoughHeapFitsAndNoLayoutIsSaid() throws {
        let big = DeviceHeaps(npu: 7600 * mib, vpp: nil, vpu: nil)
        let diagnosis = MemoryDiagnosis(model: model, live: big, configured: big, capacity: nil, boardProfile: nil)
        #expect(diagnosis.verdict == .fits)
        #expect(diagnosis.fixCommand == nil)
        let thirteen = try profiles.model(named: "llama2-13b")
        let capacity = LayoutCapacity(sharedBytes: 11518 * mib, limits: nil, minimumLinuxMiB: 2048)
        let none = MemoryDiagnosis(model: thirteen, live: big, configured: big, capacity: capacity, boardProfile: "sm7m")
        #expect(none.verdict == .fitsNoLayout)
        #expect(none.message.contains("int4") && none.message.contains("PCIe"))
    }

    @Test func aSpillEveryLayoutHasOffersNoFixMemory() throws {
        let thirteen = try profiles.model(named: "llama2-13b")
        let airbox = DeviceHeaps(npu: 7615 * mib, vpp: 3808 * mib, vpu: 0xB7FF_0000)
        let capacity = LayoutCapacity(sharedBytes: (16384 - 770) * mib, limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096),
                                      minimumLinuxMiB: 2048)
        let diagnosis = MemoryDiagnosis(model: thirteen, live: airbox, configured: airbox, capacity: capacity, boardProfile: "airbox")
        #expect(diagnosis.verdict == .spills)
        #expect(diagnosis.fixCommand == nil)
        #expect(diagnosis.message.hasSuffix("no layout of this board holds it in the NPU heap alone (at most 7615 MiB), so it always uses the VPP/VPU heaps here"), "\(diagnosis.message)")
        let seven = MemoryDiagnosis(model: model, live: factory, configured: factory, capacity: capacity, boardProfile: "1684x_evb")
        #expect(seven.fixCommand == "tpudeploy fix-memory --board 1684x_evb --for-model llama2-7b")
    }
}
