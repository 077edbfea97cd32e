import Foundation
import Testing
import TPUDeployKit

/// sophgo/LLM-TPU's Qwen1.5 / Qwen2 bmodels, in small: qwen2-sim (`make sim-models`, Tests/Reference/qwen_sim.py)
/// has their nets (the Llama layout with q/k/v biases, logits over a padded table), their tokenizer files
/// (tokenizer.json with Qwen2's pre-tokenizer, vocab.json, tokenizer_config.json; no merges.txt) and their ChatML
/// format. The engine runs it with `--family qwen2`; Tests/Reference/reference.py recomputes every answer in float64
/// from weights.npz and tokenizes with Hugging Face's `tokenizers` on the whole ChatML text (docs/qwen.md).
@Suite(.serialized) struct QwenSimTests {
    typealias Failure = EngineReferenceTests.Failure

    static func directory() throws -> URL { try EngineTestSupport.simModel("qwen2-sim") }

    /// `generate --family qwen2` with the tokenizer folder, JSON parsed.
    static func engine(_ arguments: [String]) async throws -> [String: Any] {
        let folder = try directory()
        let outcome = try await EngineReferenceTests.engine(
            ["generate", "--model", folder.appendingPathComponent("qwen2-sim.bmodel").path, "--tokenizer", folder.path,
             "--family", "qwen2", "--json"] + arguments)
        guard outcome.status == 0 else {
            throw Failure(description: "tpu-llm-engine generate exited \(outcome.status): \(outcome.standardError)")
        }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine generate")
    }

    static func reference(_ arguments: [String]) async throws -> [String: Any] {
        let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Reference/reference.py")
        let outcome = try await EngineTestSupport.run(
            EngineTestSupport.python, [script.path] + arguments + ["--model-dir", try directory().path])
        guard outcome.status == 0 else { throw Failure(description: "reference.py exited \(outcome.status): \(outcome.standardError)") }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "reference.py")
    }

    static func referenceChat(_ questions: [String], maxTokens: Int, extra: [String] = []) async throws -> [[String: Any]] {
        let file = try temporaryJSON(questions)
        defer { try? FileManager.default.removeItem(at: file) }
        let chat = try await reference(["chat", "--family", "qwen2", "--rounds", file.path, "--max-tokens", String(maxTokens)] + extra)
        return chat["rounds"] as? [[String: Any]] ?? []
    }

    static func temporaryJSON(_ value: Any) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: value).write(to: file)
        return file
    }

    static func tokenize(_ arguments: [String]) async throws -> String {
        let outcome = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, ["tokenize", "--family", "qwen2"] + arguments)
        guard outcome.status == 0 else { throw Failure(description: "tokenize exited \(outcome.status): \(outcome.standardError)") }
        return outcome.standardOutput
    }

    static func ids(_ text: String) -> [Int] {
        text.split(whereSeparator: { !"0123456789".contains($0) }).compactMap { Int($0) }
    }

    /// One question in ChatML with Qwen's default system message: the prompt pass and at least 30 cached steps
    /// (through the q/k/v biases, RoPE θ 10⁶ and RMSNorm eps 10⁻⁶ of the nets) give the reference's greedy tokens.
    @Test func promptPassAndCachedStepsMatchTheReference() async throws {
        let question = "Tell me about the sea."
        async let engineRun = Self.engine(["--prompt", question, "--max-tokens", "200"])
        async let referenceRun = Self.referenceChat([question], maxTokens: 200)
        let (engine, rounds) = try await (engineRun, referenceRun)
        let reference = try #require(rounds.first)
        let tokens = EngineReferenceTests.ints(engine["tokens"])
        #expect(EngineReferenceTests.ints(engine["prompt_ids"]) == EngineReferenceTests.ints(reference["prompt_ids"]))
        #expect(tokens == EngineReferenceTests.ints(reference["tokens"]), "engine vs reference tokens")
        #expect(engine["text"] as? String == reference["text"] as? String)
        #expect(engine["stop_reason"] as? String == "eos" && reference["stop_reason"] as? String == "eos")
        #expect(tokens.count >= 31, "only \(tokens.count) tokens: the prompt pass and 30 cached steps need 31")
    }

    /// Three rounds, each answer joining the history: prompt ids, tokens and text equal the reference's.
    @Test func chatRoundsMatchTheReference() async throws {
        let questions = ["Tell me about the sea.", "And the mountains?", "What is 12 plus 30?"]
        let file = try Self.temporaryJSON(questions)
        defer { try? FileManager.default.removeItem(at: file) }
        async let engineRun = Self.engine(["--rounds", file.path, "--max-tokens", "80"])
        async let referenceRun = Self.referenceChat(questions, maxTokens: 80)
        let (engine, theirs) = try await (engineRun, referenceRun)
        let mine = engine["rounds"] as? [[String: Any]] ?? []
        #expect(mine.count == 3 && theirs.count == 3)
        for (index, (round, expected)) in zip(mine, theirs).enumerated() {
            #expect(EngineReferenceTests.ints(round["prompt_ids"]) == EngineReferenceTests.ints(expected["prompt_ids"]),
                    "round \(index + 1) prompt ids")
            #expect(EngineReferenceTests.ints(round["tokens"]) == EngineReferenceTests.ints(expected["tokens"]),
                    "round \(index + 1) tokens")
            #expect(round["text"] as? String == expected["text"] as? String, "round \(index + 1) text")
            #expect(round["stop_reason"] as? String == expected["stop_reason"] as? String, "round \(index + 1) stop")
        }
    }

    /// The engine's byte-level BPE with Qwen2's pre-tokenizer gives the ids of Hugging Face's `tokenizers` with
    /// the model's tokenizer.json, on digits, runs of spaces and line breaks, CJK, emoji, contractions,
    /// punctuation and text that is not NFC; read from the folder (vocab.json + tokenizer.json) and from a
    /// tokenizer.json alone whose merges are "a b" strings, the format of Qwen's own file (tokenizers < 0.20),
    /// rather than pairs.
    @Test func tokenizerMatchesHuggingFace() async throws {
        let texts = [
            "The year 2024 had 366 days; 3.14159 is π.", "  two  spaces,\tand a tab\n\nnewlines   ",
            "line one.\r\n\r\n  line two!\n", "中文分词测试：你好，世界！", "emoji 🙂👍🏽 and ZWJ 👩‍💻 family",
            "It's, we'll, I'd've — DON'T 12abc34 'Sup", "x=1+2*3; y = [10, 200, 3000]", "Ünïcödé ½ ² ٣ 五 ſ 'ſ",
            "«Quoted» …end.\n\n\n", "tab\tthen\t\tmore\t", "a\n b\n  c", "$100.50 (approx.)",
            // Not NFC: the NFC normaliser composes these first (e + acute, A + ring, Hangul jamo, marks out of
            // canonical order, the Ångström sign, an excluded composite).
            "cafe\u{301} A\u{30A}ngstro\u{308}m \u{1100}\u{1161}\u{11A8} q\u{307}\u{323} \u{212B} \u{344}x",
        ]
        let file = try Self.temporaryJSON(texts)
        defer { try? FileManager.default.removeItem(at: file) }
        let expected = try await Self.reference(["tokenize", "--texts", file.path])["ids"] as? [[Any]] ?? []
        #expect(expected.count == texts.count)

        let folder = try Self.directory()
        let alone = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: alone) }
        var description = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))) as? [String: Any])
        var model = try #require(description["model"] as? [String: Any])
        let pairs = try #require(model["merges"] as? [[String]])
        model["merges"] = pairs.map { $0.joined(separator: " ") }
        description["model"] = model
        try JSONSerialization.data(withJSONObject: description).write(to: alone.appendingPathComponent("tokenizer.json"))
        try FileManager.default.copyItem(at: folder.appendingPathComponent("tokenizer_config.json"),
                                         to: alone.appendingPathComponent("tokenizer_config.json"))

        for (text, ids) in zip(texts, expected) {
            let want = EngineReferenceTests.ints(ids)
            #expect(Self.ids(try await Self.tokenize(["--tokenizer", folder.path, "--text", text])) == want,
                    "ids of \(text.debugDescription)")
            #expect(Self.ids(try await Self.tokenize(["--tokenizer", alone.appendingPathComponent("tokenizer.json").path,
                                                      "--text", text])) == want,
                    "ids of \(text.debugDescription) with string merges")
        }
        // Control tokens decode to nothing; a plain piece decodes to its bytes.
        let hello = Self.ids(try await Self.tokenize(["--tokenizer", folder.path, "--text", "Hello"]))
        let decoded = try await Self.tokenize(["--tokenizer", folder.path, "--ids", (([1025] + hello + [1026, 1024]).map(String.init)).joined(separator: ",")])
        #expect(decoded == "\"Hello\"\n")
    }

    /// A conversation ending with an assistant message (a prefill) continues it: the prompt ends with
    /// "<|im_start|>assistant\n" + the text, not closed, which is what Hugging Face's tokenizer gives for that
    /// ChatML text; and over HTTP the reply is the reference's continuation.
    @Test func assistantPrefillContinuesTheAnswer() async throws {
        let question = "Tell me about the sea.", start = "The sea"
        let rounds = try await Self.referenceChat([question], maxTokens: 60, extra: ["--prefill", start])
        let reference = try #require(rounds.first)
        let messages = [["role": "user", "content": question], ["role": "assistant", "content": start]]
        let chat = String(decoding: try JSONSerialization.data(withJSONObject: messages), as: UTF8.self)
        let prompt = Self.ids(try await Self.tokenize(["--tokenizer", try Self.directory().path, "--chat", chat]))
        #expect(prompt == EngineReferenceTests.ints(reference["prompt_ids"]), "prefill prompt ids")
        let closed = Self.ids(try await Self.tokenize(["--tokenizer", try Self.directory().path, "--chat",
                                                       String(chat.dropLast()) + #",{"role":"user","content":"Go on"}]"#]))
        // The same assistant message followed by another turn is closed with <|im_end|>; as the last message it is not.
        let imEnd = 1026
        #expect(Array(closed.prefix(prompt.count)) == prompt && closed.count > prompt.count && closed[prompt.count] == imEnd)
        #expect(prompt.last != imEnd, "a prefill must not be closed with <|im_end|>")

        let engine = try ServedEngine(model: "qwen2-sim", tokenizer: ".", arguments: ["--family", "qwen2"])
        try engine.waitUntilReady()
        for stream in [false, true] {
            let reply = try HTTP.chat(engine.port, ["messages": messages, "temperature": 0, "max_tokens": 60, "stream": stream])
            #expect(reply.status == 200, "\(reply.text)")
            let text: String
            if stream {
                let chunks = try reply.serverSentEvents().dropLast().map {
                    try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
                }
                text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
            } else {
                let body = try reply.json()
                text = ((body["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
                #expect((body["usage"] as? [String: Any])?["prompt_tokens"] as? Int == prompt.count)
            }
            #expect(text == reference["text"] as? String, "stream \(stream): the continuation of \(start.debugDescription)")
            #expect(!text.isEmpty)
        }
    }

    /// The other formats continue a prefill where their finished rounds put the answer: Llama 2 after "[/INST] ".
    @Test func llama2PrefillFollowsTheInstructionCue() async throws {
        let folder = try EngineTestSupport.simModel("llama2-sim")
        let tokenizer = folder.appendingPathComponent("tokenizer.model").path
        let messages = #"[{"role":"user","content":"Hello"},{"role":"assistant","content":"Sure, here"}]"#
        let outcome = try await EngineTestSupport.run(
            EngineTestSupport.engineExecutable, ["tokenize", "--tokenizer", tokenizer, "--family", "llama2", "--chat", messages])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let text = try await EngineTestSupport.run(
            EngineTestSupport.engineExecutable,
            ["tokenize", "--tokenizer", tokenizer, "--family", "llama2", "--text", "[INST] Hello [/INST] Sure, here"])
        #expect(Self.ids(outcome.standardOutput) == [1] + Self.ids(text.standardOutput))
    }

    /// Profiles for LLM-TPU's Qwen bmodels load with the qwen2 family and the vendor's layer counts; qwen2-sim's
    /// profile is what the tool computes from its file.
    @Test func profilesDescribeTheVendorModels() throws {
        let store = try ProfileStore(directory: EngineTestSupport.repositoryRoot.appendingPathComponent("Profiles"))
        let expected: [(String, Int, Int)] = [("qwen1.5-1.8b", 24, 512), ("qwen2-1.5b", 28, 8192)]
        for (name, layers, seqLen) in expected {
            let profile = try store.model(named: name)
            #expect(profile.family == "qwen2", "\(name)")
            #expect(profile.layers == layers, "\(name) layers")
            #expect(profile.sequenceLength == seqLen, "\(name) seq_len")
        }
        let mebibyte: UInt64 = 1 << 20
        let bmodel = try BModel(contentsOf: try Self.directory().appendingPathComponent("qwen2-sim.bmodel").path)
        let need = ModelMemoryNeed(model: bmodel)
        let profile = try store.model(named: "qwen2-sim")
        #expect(profile.npuMemoryBytes == (need.totalBytes + mebibyte - 1) / mebibyte * mebibyte, "\(profile.sourceFile)")
        #expect(profile.layers == 3 && profile.sequenceLength == 256)
        // Push pairs vocab.json's 1024 pieces with lm_head's 1032 rows (the control tokens and Qwen-like padding).
        let vocab = try Data(contentsOf: try Self.directory().appendingPathComponent("vocab.json"))
        let pieces = try #require(BytePairVocabulary.pieceCount(Array(vocab)))
        let pairing = try TokenizerPairing.check(pieces: pieces, family: "qwen2", model: bmodel, tokenizerName: "vocab.json",
                                                 modelName: "qwen2-sim")
        #expect(pairing.verdict == .matches && pairing.modelRows == 1032, "\(pairing)")
    }
}
