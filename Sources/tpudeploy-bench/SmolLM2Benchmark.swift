import Foundation

/// The engine on a trained model (SmolLM2-135M-Instruct from `make smollm`, docs/smollm2.md) with the simulated
/// runtime: prompt-pass and decode speed with the nets' math on this machine's CPU, and the engine's own host cost
/// per token with the nets made free (`TPU_SIM_FREE_NETS=1`).
struct SmolLM2BenchmarkResult: Encodable {
    var name = "tpu-llm-engine on SmolLM2-135M-Instruct, simulated runtime (release build)"
    var runs: Int
    var seqLen: Int
    var promptTokens: Int
    var prefillTokensPerSecond: Figure
    var prefillNote = "prompt tokens / time to first token; the simulated runtime computes all SEQLEN rows of a prompt block, as the TPU's static shapes do"
    var decodeTokensPerSecond: Figure
    var hostMicrosecondsPerToken: Figure
    var hostNote = "decode with TPU_SIM_FREE_NETS=1: what is left is the engine's work per token (masks, copies, KV bookkeeping, sampling over 49152 logits, detokenising)"
}

func benchmarkSmolLM2(runs: Int, scratch: URL) async throws -> (result: any Encodable, summary: String) {
    let model = URL(fileURLWithPath: "build/smollm2/smollm2-135m")
    let bmodel = model.appendingPathComponent("smollm2-135m.bmodel").path
    let (engine, runtime) = try simulatedEngine(model: bmodel, make: "smollm", scratch: scratch)
    let config = try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("model.json"))) as? [String: Any]
    let seqLen = (config?["seq_len"] as? NSNumber)?.intValue ?? 0
    var environment = ProcessInfo.processInfo.environment
    environment["TPU_SIM_NPU_HEAP_BYTES"] = String(8 << 30)
    let arguments = ["generate", "--model", bmodel, "--tokenizer", model.appendingPathComponent("vocab.json").path,
                     "--family", "smollm2", "--runtime-dir", runtime, "--json",
                     "--prompt", "Write a short story about a lighthouse keeper.", "--max-tokens", "64"]

    func generate(freeNets: Bool) throws -> (prompt: Int, ttft: Double, rate: Double) {
        var env = environment
        env["TPU_SIM_FREE_NETS"] = freeNets ? "1" : "0"
        let output = try runCapturing(engine, arguments, environment: env)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let prompt = object["prompt_ids"] as? [Any], let ttft = object["time_to_first_token_seconds"] as? Double,
              let rate = object["decode_tokens_per_second"] as? Double, rate > 0, ttft > 0 else {
            throw BenchmarkError(description: "unexpected generate output: \(output.prefix(300))")
        }
        return (prompt.count, ttft, rate)
    }
    var prefill: [Double] = [], decode: [Double] = [], host: [Double] = []
    var promptTokens = 0
    // A few runs: each is a real prompt pass over SEQLEN rows of 30 blocks.
    for _ in 0..<max(1, min(runs, 3)) {
        let real = try generate(freeNets: false)
        promptTokens = real.prompt
        prefill.append(Double(real.prompt) / real.ttft)
        decode.append(real.rate)
        host.append(1e6 / (try generate(freeNets: true)).rate)
    }
    let result = SmolLM2BenchmarkResult(
        runs: prefill.count, seqLen: seqLen, promptTokens: promptTokens,
        prefillTokensPerSecond: Figure(prefill, unit: "tokens/s"), decodeTokensPerSecond: Figure(decode, unit: "tokens/s"),
        hostMicrosecondsPerToken: Figure(host, unit: "µs"))
    let summary = String(format: "smollm2: prefill %.1f tokens/s (%d-token prompt, SEQLEN %d), decode %.1f tokens/s on the simulated runtime; host cost %.0f µs/token with free nets",
                         median(prefill), promptTokens, seqLen, median(decode), median(host))
    return (result, summary)
}
