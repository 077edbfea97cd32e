import Foundation
import TPURuntimeAPI
import Testing

extension InProcessRuntimeSuites {
    /// The two sampling heads LLM-TPU's Qwen bmodels carry beside lm_head (`greedy_head`, `penalty_sample_head`;
    /// models/Qwen2/compile/export_onnx.py), as qwen2-sim has them: the simulated runtime runs them as the export
    /// traces them. The engine never launches them (it samples from lm_head's logits on the host); these tests
    /// check that the file's heads compute what the vendor's would, for a runner that does.
    @Suite struct QwenSamplingHeadsTests {
        typealias Session = SimRuntimeTests.Session

        /// Logits with a clear order and a tie, over the whole padded table.
        static func logits(_ rows: Int) -> [Float] {
            (0..<rows).map { Float(($0 * 37) % 101) / 10 - 5 }
        }

        @Test func greedyHeadIsTheArgmaxLowestIndexOnTies() throws {
            let (bmodel, _, json) = try SimRuntimeTests.model("qwen2-sim")
            let session = try Session(heapBytes: SimRuntimeTests.enoughHeap)
            #expect(session.load(bmodel))
            let values = Self.logits(json.table_rows)
            let input = try session.allocate(values.count * 4), output = try session.allocate(4)
            try session.upload(values, to: input)
            let info = try session.info("greedy_head")
            var outputs = [session.tensor(output, BM_INT32, info.stages[0].output_shapes[0])]
            #expect(session.launch("greedy_head", [session.tensor(input, BM_FLOAT32, info.stages[0].input_shapes[0])], &outputs))
            let token: [Int32] = try session.download(1, of: Int32.self, from: output)
            let best = values.max()!
            #expect(token == [Int32(values.firstIndex(of: best)!)])
        }

        /// PenaltySampleHead: the logits of the ids seen divided by the penalty (multiplied when negative), the top
        /// 50 by logit, divided by the temperature, those past cumulative probability top_p (the first 5 always
        /// kept) set to −1000, then softmax. Recomputed here in Double from the export's description.
        @Test func penaltySampleHeadFollowsTheExport() throws {
            let (bmodel, _, json) = try SimRuntimeTests.model("qwen2-sim")
            let session = try Session(heapBytes: SimRuntimeTests.enoughHeap)
            #expect(session.load(bmodel))
            let values = Self.logits(json.table_rows)
            let seen: [Int32] = (0..<json.seq_len).map { Int32(($0 * 13) % 40) }  // repeats: each id penalised once
            let (topP, temperature, penalty): (Float, Float, Float) = (0.6, 0.7, 1.3)
            let info = try session.info("penalty_sample_head")
            let shapes = (0..<5).map { info.stages[0].input_shapes[$0] }
            let memories = [try session.allocate(values.count * 4), try session.allocate(seen.count * 4),
                            try session.allocate(4), try session.allocate(4), try session.allocate(4)]
            try session.upload(values, to: memories[0])
            try session.upload(seen, to: memories[1])
            try session.upload([topP], to: memories[2])
            try session.upload([temperature], to: memories[3])
            try session.upload([penalty], to: memories[4])
            let dtypes = [BM_FLOAT32, BM_INT32, BM_FLOAT32, BM_FLOAT32, BM_FLOAT32]
            let inputs = (0..<5).map { session.tensor(memories[$0], dtypes[$0], shapes[$0]) }
            let probsMemory = try session.allocate(50 * 4), tokensMemory = try session.allocate(50 * 4)
            var outputs = [session.tensor(probsMemory, BM_FLOAT32, info.stages[0].output_shapes[0]),
                           session.tensor(tokensMemory, BM_INT32, info.stages[0].output_shapes[1])]
            #expect(session.launch("penalty_sample_head", inputs, &outputs))
            let probs: [Float] = try session.download(50, of: Float.self, from: probsMemory)
            let tokens: [Int32] = try session.download(50, of: Int32.self, from: tokensMemory)

            var penalised = values.map(Double.init)
            for id in Set(seen.map(Int.init)) {
                let original = Double(values[id])
                penalised[id] = original < 0 ? original * Double(penalty) : original / Double(penalty)
            }
            let order = penalised.indices.sorted { penalised[$0] > penalised[$1] || (penalised[$0] == penalised[$1] && $0 < $1) }
            let top = Array(order.prefix(50))
            #expect(tokens.map(Int.init) == top)
            func softmax(_ x: [Double]) -> [Double] {
                let best = x.max()!, e = x.map { Foundation.exp($0 - best) }, total = e.reduce(0, +)
                return e.map { $0 / total }
            }
            let scaled = top.map { penalised[$0] / Double(temperature) }
            var cumulative = 0.0
            let filtered = softmax(scaled).enumerated().map { index, p -> Double in
                cumulative += p
                return cumulative < Double(topP) || index < 5 ? scaled[index] : -1000
            }
            let expected = softmax(filtered)
            #expect(zip(probs, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(probs.prefix(8)) vs \(expected.prefix(8))")
            #expect(expected.filter { $0 > 1e-6 }.count < 50, "top_p must cut some candidates for this test to mean anything")
        }
    }
}
