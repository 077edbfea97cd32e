import Foundation
import TPURuntimeAPI
import Testing

extension InProcessRuntimeSuites {
    /// The simulated runtime on the 2023-layout sim models (docs/sim-models.md "2023 layouts"): ChatGLM2-TPU's
    /// two-stage embedding on 1-D ids, its flag mask (1.0 = masked, the block adds mask × −10000), and
    /// binary_param word 15 refused when it names a variant that does not exist.
    @Suite struct SeedLayoutRuntimeTests {
        typealias Runtime = SimRuntimeTests

        /// Runs `body` with this process's stdout and stderr going to one file (libsophon logs to stdout, our
        /// runtime may use either), and returns what was written there.
        static func capturingOutput<T>(_ body: () throws -> T) rethrows -> (T, String) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("seed-runtime-\(UUID().uuidString)").path
            let file = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            fflush(nil)
            let savedOut = dup(1), savedError = dup(2)
            dup2(file, 1)
            dup2(file, 2)
            close(file)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let result: T
            do {
                defer {
                    fflush(nil)
                    dup2(savedOut, 1)
                    dup2(savedError, 2)
                    close(savedOut)
                    close(savedError)
                }
                result = try body()
            }
            return (result, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
        }

        /// One token through glm_block_cache_0 over a history of `history` values, with `mask` ([S+1] floats);
        /// returns the hidden state it writes.
        static func cacheStep(_ session: Runtime.Session, S: Int, H: Int, kvRow: Int, history: Float, mask: [Float]) throws
            -> [Float]
        {
            let info = try session.info("glm_block_cache_0")
            let state = try session.allocate(H * 4), position = try session.allocate(4), maskMemory = try session.allocate((S + 1) * 4)
            let keys = try session.allocate(S * kvRow * 4), values = try session.allocate(S * kvRow * 4)
            let hidden = try session.allocate(H * 4)
            try session.upload((0..<H).map { Float($0 % 7) * 0.25 - 0.5 }, to: state)
            try session.upload([Int32(S - 1)], to: position)
            try session.upload(mask, to: maskMemory)
            // A history that differs row by row, scaled by `history`.
            try session.upload((0..<(S * kvRow)).map { Float(($0 * 37) % 11) * history }, to: keys)
            try session.upload((0..<(S * kvRow)).map { Float(($0 * 13) % 5) * history }, to: values)
            let shapes = info.stages[0]
            let inputs = [session.tensor(state, BM_FLOAT32, shapes.input_shapes[0]),
                          session.tensor(position, BM_INT32, shapes.input_shapes[1]),
                          session.tensor(maskMemory, BM_FLOAT32, shapes.input_shapes[2]),
                          session.tensor(keys, BM_FLOAT32, shapes.input_shapes[3]),
                          session.tensor(values, BM_FLOAT32, shapes.input_shapes[4])]
            var outputs = [session.tensor(hidden, BM_FLOAT32, shapes.output_shapes[0]),
                           session.tensor(keys, BM_FLOAT32, shapes.output_shapes[1]),
                           session.tensor(values, BM_FLOAT32, shapes.output_shapes[2])]
            guard session.launch("glm_block_cache_0", inputs, &outputs) else {
                throw Runtime.SimRuntimeError(description: "glm_block_cache_0 was refused")
            }
            return try session.download(H, of: Float.self, from: hidden)
        }

        @Test func chatglm2TPUMaskIsAFlagAndItsEmbeddingHasTwoStages() throws {
            let (bmodel, _, json) = try Runtime.model("chatglm2-2023-sim")
            let session = try Runtime.Session(heapBytes: Runtime.enoughHeap)
            #expect(session.load(bmodel))
            let S = json.seq_len, H = json.hidden, kvRow = json.kv_heads * json.head_dim

            // One `embedding` net, stage 0 [1] → [1,H]; launched with [S] ids the runtime runs the other stage.
            let embedding = try session.info("embedding")
            #expect(embedding.stage_num == 2)
            #expect(Runtime.dims(embedding.stages[0].input_shapes[0]) == [1])
            #expect(Runtime.dims(embedding.stages[0].output_shapes[0]) == [1, H])
            let ids = try session.allocate(S * 4), states = try session.allocate(S * H * 4)
            try session.upload((0..<S).map { Int32(3 + $0 % 200) }, to: ids)
            var prompt = [session.tensor(states, BM_FLOAT32, Runtime.shape([S, H]))]
            #expect(session.launch("embedding", [session.tensor(ids, BM_INT32, Runtime.shape([S]))], &prompt))
            #expect(Runtime.dims(prompt[0].shape) == [S, H])
            var step = [session.tensor(states, BM_FLOAT32, Runtime.shape([1, H]))]
            #expect(session.launch("embedding", [session.tensor(ids, BM_INT32, Runtime.shape([1]))], &step))
            let (refused, log) = Self.capturingOutput {
                session.launch("embedding", [session.tensor(ids, BM_INT32, Runtime.shape([1, S]))], &prompt)
            }
            #expect(!refused, "LLM-TPU's [1,S] ids match no stage of ChatGLM2-TPU's embedding")
            #expect(log.contains("net embedding"), "\(log)")

            // Only the new token visible, the flag way (1.0 on the S history entries): the history is ignored.
            let flag = [Float](repeating: 1, count: S) + [0]
            let quiet = try Self.cacheStep(session, S: S, H: H, kvRow: kvRow, history: 0.1, mask: flag)
            let loud = try Self.cacheStep(session, S: S, H: H, kvRow: kvRow, history: 3, mask: flag)
            #expect(quiet == loud, "a history masked with 1.0 must not change the result")
            // LLM-TPU's additive −10000 in this mask makes the history (×−10000 → +10⁸) all that is attended to.
            let additive = [Float](repeating: -10000, count: S) + [0]
            let quietAdditive = try Self.cacheStep(session, S: S, H: H, kvRow: kvRow, history: 0.1, mask: additive)
            let loudAdditive = try Self.cacheStep(session, S: S, H: H, kvRow: kvRow, history: 3, mask: additive)
            #expect(quietAdditive != loudAdditive, "with −10000 the history is attended to")
            #expect(quietAdditive != quiet)
        }

        /// binary_param word 15 of every net set to `value`, in a copy of the sim model.
        static func withVariantWord(_ name: String, _ value: UInt32) throws -> URL {
            let (bmodel, _, _) = try Runtime.model(name)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bmodel)))
            let magic: [UInt8] = [0x54, 0x53, 0x49, 0x4D, 1, 0, 0, 0]  // "TSIM", version 1
            var patched = 0
            var offset = 64
            while offset + 64 <= bytes.count {
                if Array(bytes[offset..<offset + 8]) == magic {
                    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset + 60..<offset + 64, with: $0) }
                    patched += 1
                    offset += 64
                } else {
                    offset += 4
                }
            }
            guard patched > 0 else { throw Runtime.SimRuntimeError(description: "no binary_param block in \(name)") }
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("variant-\(UUID().uuidString).bmodel")
            try Data(bytes).write(to: copy)
            return copy
        }

        @Test(arguments: [
            ("chatglm2-2023-sim", UInt32(16), "variant bits must be 1 (2023 tensor ranks), 2 (mask 1.0 = masked), "
                + "4 (attention biases) and/or 8 (bfloat16 mask)"),
            // Qwen's q/k/v biases (bit 4) and Qwen2's bfloat16 mask (bit 8): the llama2 layout only; the blocks must
            // then hold the biases, and the mask tensors must be bfloat16.
            ("chatglm2-2023-sim", UInt32(4), "attention biases (bit 4) exist in the llama2 layout only"),
            ("chatglm2-2023-sim", UInt32(8), "a bfloat16 mask (bit 8) exists in the llama2 layout only"),
            ("llama2-2023-sim", UInt32(9), "(attention_mask): data_type float32, expected bfloat16"),
            ("llama2-2023-sim", UInt32(5), "net block_0: coeff_mem: no location named bq"),
            ("wizardcoder-2023-sim", UInt32(3), "the wizardcoder layout's mask is additive"),
            // The LLM-TPU ranks declared for nets that have the 2023 ones.
            ("llama2-2023-sim", UInt32(0), "net embedding_cache: input 0 (input_ids): shape [1], expected [1, "),
        ])
        func aVariantWordThatDoesNotFitTheNetsIsRefused(model: String, word: UInt32, reason: String) throws {
            let copy = try Self.withVariantWord(model, word)
            defer { try? FileManager.default.removeItem(at: copy) }
            let session = try Runtime.Session(heapBytes: Runtime.enoughHeap)
            let (loaded, log) = Self.capturingOutput { session.load(copy.path) }
            #expect(!loaded)
            #expect(log.contains(reason), "\(log)")
        }
    }
}
