import Foundation
import TPURuntimeAPI
import Testing
@testable import TPUDeployKit

extension InProcessRuntimeSuites {
    /// wizardcoder-sim as a file and on the simulated runtime (docs/sim-models.md "wizardcoder-sim"): a BM1684X bmodel
    /// needing more than the factory heap, LLM-TPU's WizardCoder nets (a two-stage embedding, combined past), and a
    /// runtime that picks the embedding's stage by the launch shapes and computes E[id] + P[position].
    @Suite struct WizardCoderSimTests {
        static let name = "wizardcoder-sim"
        static let mebibyte: UInt64 = 1 << 20
        typealias Runtime = SimRuntimeTests

        @Test func parsesAsABM1684XModelWithTheProfilesMemoryAndLLMTPUsNets() throws {
            let (path, _, json) = try Runtime.model(Self.name)
            let bmodel = try BModel(contentsOf: path)
            try bmodel.requireChip("BM1684X", path: Self.name)
            #expect(bmodel.netNames == ["embedding", "block_0", "block_cache_0", "block_1", "block_cache_1", "lm_head"])
            // The need once served (ModelMemoryNeed): its one neuron block alone (4608 MiB) is larger than any heap of the
            // factory layout, so the runtime cannot load it there even by spilling into VPP and VPU.
            let need = ModelMemoryNeed(model: bmodel)
            #expect(need.engineLayoutKnown)
            #expect(need.largestAllocationBytes == 4608 * Self.mebibyte)
            #expect(need.largestAllocationBytes > 3950 * Self.mebibyte, "the factory NPU heap must not be enough")
            #expect(need.bytes(for: .kvCache) > 0 && need.bytes(for: .engineBuffer) > 0)
            let profile = try SimModelTests.profiles.model(named: Self.name)
            let roundedUp = (need.totalBytes + Self.mebibyte - 1) / Self.mebibyte * Self.mebibyte
            #expect(profile.npuMemoryBytes == roundedUp, "npu_memory_mib in \(profile.sourceFile)")
            #expect(profile.family == "wizardcoder" && json.family == "wizardcoder")
            #expect(profile.layers == json.layers && profile.sequenceLength == json.seq_len)

            let nets = Dictionary(uniqueKeysWithValues: bmodel.nets.map { ($0.name, $0) })
            let S = UInt64(json.seq_len), H = UInt64(json.hidden), R = 2 * UInt64(json.head_dim)
            let embedding = try #require(nets["embedding"])
            #expect(embedding.stages.map { $0.inputs.map(\.shape) } == [[[1, 1], [1, 1]], [[1, S], [1, S]]])
            #expect(embedding.stages.map { $0.outputs.map(\.shape) } == [[[1, 1, H]], [[1, S, H]]])
            let block = try #require(nets["block_0"]?.stages.first)
            #expect(block.inputs.map(\.shape) == [[1, S, H], [1, 1, S, S]])
            #expect(block.outputs.map(\.shape) == [[1, S, H], [1, S, R]])
            let cache = try #require(nets["block_cache_0"]?.stages.first)
            #expect(cache.inputs.map(\.shape) == [[1, 1, H], [1, S, R], [1, 1, 1, S + 1]])
            #expect(cache.outputs.map(\.shape) == [[1, 1, H], [1, S + 1, R]])
            #expect(block.coefficientStart == cache.coefficientStart && block.coefficientBytes == cache.coefficientBytes)
            let head = try #require(nets["lm_head"]?.stages.first)
            #expect(head.outputs.map(\.shape) == [[1, 1]] && head.outputs.first?.dataType == 6)
        }

        /// libsophon@main's bm_stage_info_t is 32 bytes (our header declares the first 16); the sim runtime lays it
        /// out that way, so this test (and only code that knows the runtime is new) may read stage 1.
        static func stageInputShape(_ info: bm_net_info_t, stage: Int, input: Int) -> bm_shape_t {
            let raw = UnsafeRawPointer(info.stages!).advanced(by: 32 * stage)
            let shapes = raw.load(as: UnsafePointer<bm_shape_t>.self)
            return shapes[input]
        }

        /// E[id] + P[position] for the given rows, from weights.npz.
        static func expectedEmbedding(_ directory: URL, ids: [Int32], positions: [Int32]) async throws -> [Float] {
            let script = """
                import json, sys, numpy as np
                w = np.load(sys.argv[1] + "/weights.npz")
                ids, positions = json.loads(sys.argv[2]), json.loads(sys.argv[3])
                print(json.dumps((w["embed"][ids] + w["pos_embed"][positions]).astype(np.float32).ravel().tolist()))
                """
            let outcome = try await EngineTestSupport.run(
                EngineTestSupport.python, ["-c", script, directory.path, "\(ids)", "\(positions)"])
            guard outcome.status == 0, let values = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [Double]
            else { throw Runtime.SimRuntimeError(description: "numpy embedding failed: \(outcome.standardError)") }
            return values.map(Float.init)
        }

        @Test func theEmbeddingStageIsChosenByTheLaunchShapes() async throws {
            let (bmodel, directory, json) = try Runtime.model(Self.name)
            let session = try Runtime.Session(heapBytes: Runtime.enoughHeap)
            #expect(session.load(bmodel))
            let S = json.seq_len, H = json.hidden
            let info = try session.info("embedding")
            #expect(info.stage_num == 2 && info.input_num == 2)
            #expect(Runtime.dims(info.stages[0].input_shapes[0]) == [1, 1])
            #expect(Runtime.dims(Self.stageInputShape(info, stage: 1, input: 1)) == [1, S])

            let ids = try session.allocate(S * 4), positions = try session.allocate(S * 4), states = try session.allocate(S * H * 4)
            // One token at position 7.
            try session.upload([Int32(300)], to: ids)
            try session.upload([Int32(7)], to: positions)
            var outputs = [session.tensor(states, BM_FLOAT32, Runtime.shape([1, 1, H]))]
            let one = [session.tensor(ids, BM_INT32, Runtime.shape([1, 1])), session.tensor(positions, BM_INT32, Runtime.shape([1, 1]))]
            #expect(session.launch("embedding", one, &outputs))
            #expect(Runtime.dims(outputs[0].shape) == [1, 1, H])
            let step = try session.download(H, of: Float.self, from: states)
            #expect(step == (try await Self.expectedEmbedding(directory, ids: [300], positions: [7])))

            // The whole prompt shape.
            let promptIds = (0..<S).map { Int32(($0 * 37) % json.table_rows) }, promptPositions = (0..<S).map { Int32($0) }
            try session.upload(promptIds, to: ids)
            try session.upload(promptPositions, to: positions)
            var prompt = [session.tensor(states, BM_FLOAT32, Runtime.shape([1, S, H]))]
            let all = [session.tensor(ids, BM_INT32, Runtime.shape([1, S])), session.tensor(positions, BM_INT32, Runtime.shape([1, S]))]
            #expect(session.launch("embedding", all, &prompt))
            #expect(Runtime.dims(prompt[0].shape) == [1, S, H])
            let rows = try session.download(S * H, of: Float.self, from: states)
            #expect(rows == (try await Self.expectedEmbedding(directory, ids: promptIds, positions: promptPositions)))

            // A length that matches no stage, and a position outside the table, are refused.
            try session.upload([Int32(S)], to: positions)
            let (results, log) = Runtime.capturingStandardError { () -> [Bool] in
                [
                    session.launch("embedding", [session.tensor(ids, BM_INT32, Runtime.shape([1, 2])),
                                                 session.tensor(positions, BM_INT32, Runtime.shape([1, 2]))], &outputs),
                    session.launch("embedding", one, &outputs),
                ]
            }
            #expect(results == [false, false])
            #expect(log.contains("position_ids[0] = \(S) is outside the position table of \(S) rows"), "\(log)")
        }

        @Test func theCacheBlockReturnsThePastFollowedByTheNewRow() throws {
            let (bmodel, _, json) = try Runtime.model(Self.name)
            let session = try Runtime.Session(heapBytes: Runtime.enoughHeap)
            #expect(session.load(bmodel))
            let S = json.seq_len, H = json.hidden, R = 2 * json.head_dim
            let state = try session.allocate(H * 4), past = try session.allocate(S * R * 4)
            let mask = try session.allocate((S + 1) * 4), hidden = try session.allocate(H * 4), current = try session.allocate((S + 1) * R * 4)
            let pastValues = (0..<(S * R)).map { Float($0 % 97) / 97 }
            try session.upload((0..<H).map { Float($0) / Float(H) - 0.5 }, to: state)
            try session.upload(pastValues, to: past)
            try session.upload([Float](repeating: -1000, count: S) + [0], to: mask)
            let inputs = [session.tensor(state, BM_FLOAT32, Runtime.shape([1, 1, H])),
                          session.tensor(past, BM_FLOAT32, Runtime.shape([1, S, R])),
                          session.tensor(mask, BM_FLOAT32, Runtime.shape([1, 1, 1, S + 1]))]
            var outputs = [session.tensor(hidden, BM_FLOAT32, Runtime.shape([1, 1, H])),
                           session.tensor(current, BM_FLOAT32, Runtime.shape([1, S + 1, R]))]
            #expect(session.launch("block_cache_0", inputs, &outputs))
            let rows = try session.download((S + 1) * R, of: Float.self, from: current)
            #expect(Array(rows.prefix(S * R)) == pastValues, "rows 0..S-1 are the past as given")
            #expect(rows.suffix(R).contains { $0 != 0 }, "row S is the new token's [k | v]")
            // The llama2-style five inputs are refused with the count.
            let (refused, log) = Runtime.capturingStandardError {
                session.launch("block_cache_0", inputs + inputs.prefix(2), &outputs)
            }
            #expect(!refused)
            #expect(log.contains("launched with 5 inputs"), "\(log)")
        }
    }
}
