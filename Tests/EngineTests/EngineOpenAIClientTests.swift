import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `tpu-llm-engine serve` driven by the real `openai` Python client (`make venv`), as the applications that use it
/// do: load, the messages clients send, refusals, keys, CORS, the endpoints, metrics. Each test runs one check of
/// `Tests/Tools/openai_client_checks.py`, which asserts what the client sees and prints a JSON summary.
@Suite(.serialized, .hangGuard)
struct EngineOpenAIClientTests {
    static let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Tools/openai_client_checks.py")

    /// Runs a check against the engine; fails with the check's own reason.
    @discardableResult
    static func check(_ name: String, _ engine: ServedEngine, _ arguments: [String] = []) async throws -> [String: Any] {
        let outcome = try await EngineTestSupport.run(EngineTestSupport.python,
                                                      [script.path, name, "--port", String(engine.port)] + arguments)
        #expect(outcome.status == 0, "\(name): \(outcome.standardError)\n\(engine.log.suffix(2000))")
        let object = try? JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any]
        return object ?? [:]
    }

    @Test func twentyConcurrentStreamsAllSucceed() async throws {
        // The default queue; each answer holds the device for 4 pieces × 40 ms, so the burst lasts seconds.
        let engine = try ServedEngine(environment: ["TPU_ENGINE_PIECE_DELAY_MS": "40"])
        try engine.waitUntilReady()
        let summary = try await Self.check("load", engine, ["--tokens", "4"])
        #expect(summary["succeeded"] as? Int == 20)
        #expect((summary["comments"] as? Int ?? 0) >= 1)
    }

    @Test func pastTheQueueTheSDKRetriesAfterRetryAfter() async throws {
        let engine = try ServedEngine(arguments: ["--queue", "0"], environment: ["TPU_ENGINE_PIECE_DELAY_MS": "100"])
        try engine.waitUntilReady()
        let summary = try await Self.check("retry", engine)
        #expect((summary["refusals"] as? Double ?? 0) >= 1)
    }

    @Test func messagesAsClientsSendThem() async throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let summary = try await Self.check("messages", engine)
        // Six foldings that mean another conversation, and an assistant prefill that the answer continues.
        #expect((summary["equivalent"] as? [String])?.count == 7)
        #expect((summary["equivalent"] as? [String])?.contains("an assistant prefill") == true)
    }

    @Test func unsupportedFieldsAndOverflowsAreRefusedInOpenAIsShape() async throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let summary = try await Self.check("refusals", engine)
        #expect((summary["refused"] as? [String]) == ["n", "tools", "response_format", "logprobs"])
    }

    @Test func aWrongKeySaysSoAndLeavesTheConnectionUsable() async throws {
        let engine = try ServedEngine(arguments: ["--api-key-file", try EngineServerTests.secretFile("s3cret\n")])
        try engine.waitUntilReady()
        let summary = try await Self.check("wrong_key", engine, ["--key", "s3cret"])
        #expect((summary["statuses"] as? [Int]) == [401, 200])
    }

    @Test func crossOriginOnlyWithAKeyOrWhenAsked() async throws {
        let open = try ServedEngine()
        try open.waitUntilReady()
        try await Self.check("cors", open, ["--expect", "refused"])

        let keyed = try ServedEngine(arguments: ["--api-key-file", try EngineServerTests.secretFile("k\n")])
        try keyed.waitUntilReady()
        try await Self.check("cors", keyed, ["--key", "k", "--expect", "allowed"])

        let named = try ServedEngine(arguments: ["--cors-origin", "http://front-end.example:3000"])
        try named.waitUntilReady()
        let summary = try await Self.check("cors", named, ["--expect", "allowed"])
        #expect(summary["allow_origin"] as? String == "http://front-end.example:3000")
    }

    @Test func legacyCompletionsModelsAndSamplingDefaults() async throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let summary = try await Self.check("endpoints", engine)

        // The legacy completion equals `generate` on the prompt's ids with the tokenizer's BOS, no chat format.
        let directory = try EngineTestSupport.simModel("llama2-sim")
        let tokenizer = directory.appendingPathComponent("tokenizer.model").path
        let ids = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, [
            "tokenize", "--tokenizer", tokenizer, "--family", "llama2", "--text", "Once upon a time"])
        let textIDs = try JSONSerialization.jsonObject(with: Data(ids.standardOutput.utf8)) as? [Int] ?? []
        let runtime = try EngineTestSupport.simRuntimeDirectory()
        let generated = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, [
            "generate", "--model", directory.appendingPathComponent("llama2-sim.bmodel").path, "--tokenizer", tokenizer,
            "--runtime-dir", runtime.path, "--ids", ([1] + textIDs).map(String.init).joined(separator: ","),
            "--max-tokens", "8", "--json"])
        let reference = try JSONSerialization.jsonObject(with: Data(generated.standardOutput.utf8)) as? [String: Any]
        #expect(summary["completion"] as? String == reference?["text"] as? String, "\(generated.standardError)")
        #expect(summary["prompt_tokens"] as? Int == textIDs.count + 1)
    }

    @Test func modelsAnswer503WhileLoading() async throws {
        // Long enough for the client's interpreter to start and import openai on a loaded machine (seen taking
        // over 3 s); the test ends at the first 503, so the delay costs nothing.
        let engine = try ServedEngine(environment: ["TPU_ENGINE_LOAD_DELAY_MS": "30000"])
        try await Self.check("loading", engine)
    }

    @Test func metricsParseAsPrometheusText() async throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let summary = try await Self.check("metrics", engine)
        #expect((summary["tpu_engine_time_to_first_token_seconds"] as? Double ?? 0) > 0)
    }
}
