import Foundation
import Testing

/// tpu-llm-engine on wizardcoder-sim (WizardCoder's LLM-TPU layout: a two-stage embedding taking ids and positions,
/// one combined right-aligned KV cache per layer, −1000 masks, GPT-2 byte-level BPE, the Alpaca prompt) against
/// `Tests/Reference/reference.py`: equal greedy tokens after the prompt pass and 30+ cached steps, and across three
/// chat rounds; load errors for a wrong layer count or family; the family inferred from the nets.
struct WizardCoderTests {
    static let name = "wizardcoder-sim"

    /// An instruction whose answer runs past 30 tokens on the model `make sim-models` builds (its markers, "##",
    /// ":" and newlines, keep EOS down for longer); if the model changes and this ends early, pick another.
    static let longAnswerInstruction = "a:\n\n## b:\n\n## c:"

    static func arguments(_ model: URL) -> [String] {
        ["generate", "--model", model.appendingPathComponent("\(name).bmodel").path, "--tokenizer", model.path, "--json"]
    }

    static func generate(_ model: URL, _ extra: [String]) async throws -> [String: Any] {
        let outcome = try await EngineReferenceTests.engine(arguments(model) + extra)
        guard outcome.status == 0 else {
            throw EngineReferenceTests.Failure(
                description: "tpu-llm-engine generate exited \(outcome.status): \(outcome.standardError)")
        }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine generate")
    }

    static func writeRounds(_ rounds: [String]) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-rounds-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: rounds).write(to: file)
        return file
    }

    static let ints = EngineReferenceTests.ints

    @Test func promptPassAndCachedStepsMatchTheReference() async throws {
        let model = try EngineTestSupport.simModel(Self.name)
        let rounds = try Self.writeRounds([Self.longAnswerInstruction])
        defer { try? FileManager.default.removeItem(at: rounds) }
        // The prompt as the reference builds it (Alpaca text, encoded by the `tokenizers` package) ...
        let chat = try await EngineReferenceTests.reference(
            ["chat", "--model-dir", model.path, "--family", "wizardcoder", "--rounds", rounds.path, "--max-tokens", "60"])
        let prompt = Self.ints((chat["rounds"] as? [[String: Any]])?.first?["prompt_ids"])
        try #require(prompt.count > 20)
        // ... and the engine's own prompt for the same message.
        let engineChat = try await Self.generate(model, ["--prompt", Self.longAnswerInstruction, "--max-tokens", "60"])
        #expect(Self.ints(engineChat["prompt_ids"]) == prompt, "the engine builds the reference's Alpaca prompt")

        let idList = prompt.map(String.init).joined(separator: ",")
        let engine = try await Self.generate(model, ["--ids", idList, "--max-tokens", "60"])
        let reference = try await EngineReferenceTests.reference(
            ["generate", "--model-dir", model.path, "--ids", idList, "--max-tokens", "60"])
        let tokens = Self.ints(engine["tokens"])
        #expect(tokens == Self.ints(reference["tokens"]), "engine vs reference tokens")
        #expect(engine["stop_reason"] as? String == reference["stop_reason"] as? String)
        #expect(tokens.count >= 31, "the answer has only \(tokens.count) tokens: choose an instruction with a longer answer")
        #expect(Self.ints(engineChat["tokens"]) == tokens)
        let text = (chat["rounds"] as? [[String: Any]])?.first?["text"] as? String
        #expect(engineChat["text"] as? String == text, "streamed text equals the tokenizers package's decode")
    }

    @Test func threeChatRoundsMatchTheReference() async throws {
        let model = try EngineTestSupport.simModel(Self.name)
        let rounds = try Self.writeRounds(["Write a function that adds two numbers.", "Now in C.", "Explain it."])
        defer { try? FileManager.default.removeItem(at: rounds) }
        let engine = try await Self.generate(model, ["--rounds", rounds.path, "--max-tokens", "40"])
        let reference = try await EngineReferenceTests.reference(
            ["chat", "--model-dir", model.path, "--family", "wizardcoder", "--rounds", rounds.path, "--max-tokens", "40"])
        let engineRounds = engine["rounds"] as? [[String: Any]] ?? []
        let referenceRounds = reference["rounds"] as? [[String: Any]] ?? []
        #expect(engineRounds.count == 3 && referenceRounds.count == 3)
        for (index, (mine, theirs)) in zip(engineRounds, referenceRounds).enumerated() {
            #expect(Self.ints(mine["prompt_ids"]) == Self.ints(theirs["prompt_ids"]), "round \(index + 1) prompt ids")
            #expect(Self.ints(mine["tokens"]) == Self.ints(theirs["tokens"]), "round \(index + 1) tokens")
            #expect(mine["text"] as? String == theirs["text"] as? String, "round \(index + 1) text")
            #expect(mine["stop_reason"] as? String == "eos", "round \(index + 1) ends at <|endoftext|>")
            #expect(!Self.ints(mine["tokens"]).isEmpty, "round \(index + 1) answered nothing: the test proves little")
        }
        // Later prompts carry the earlier rounds: each starts with the previous prompt.
        for index in 1..<min(engineRounds.count, 3) {
            let previous = Self.ints(engineRounds[index - 1]["prompt_ids"])
            #expect(Array(Self.ints(engineRounds[index]["prompt_ids"]).prefix(previous.count - 2)) == Array(previous.dropLast(2)))
        }
    }

    @Test func layerCountAndFamilyMismatchesAreLoadErrors() async throws {
        let model = try EngineTestSupport.simModel(Self.name)
        let base = Self.arguments(model) + ["--ids", "1,2,3"]
        let layers = try await EngineReferenceTests.engine(base + ["--layers", "40"])
        EngineReferenceTests().expectLoadFailure(
            layers, mentioning: ["model has 2 blocks (block_0..block_1) but the profile says 40 layers"])
        // A sentencepiece tokenizer, so the tokenizer loads for llama2 and the nets are what is refused.
        let sentencepiece = try EngineTestSupport.simModel("llama2-sim").appendingPathComponent("tokenizer.model").path
        let family = try await EngineReferenceTests.engine(
            ["generate", "--model", model.appendingPathComponent("\(Self.name).bmodel").path, "--tokenizer", sentencepiece,
             "--json", "--ids", "1,2,3", "--family", "llama2"])
        EngineReferenceTests().expectLoadFailure(
            family, mentioning: ["the model's nets are laid out like wizardcoder but the profile says llama2"])
    }

    @Test func familyLayersAndContextAreInferredFromTheNets() async throws {
        let model = try EngineTestSupport.simModel(Self.name)
        let outcome = try await EngineReferenceTests.engine(
            ["info", "--model", model.appendingPathComponent("\(Self.name).bmodel").path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let info = try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine info")
        #expect(info["family"] as? String == "wizardcoder")
        #expect((info["layers"] as? NSNumber)?.intValue == 2)
        #expect((info["seq_len"] as? NSNumber)?.intValue == 256, "SEQLEN comes from block_0, not the embedding's stage 0")
        #expect(info["nets"] as? [String] == ["embedding", "block_0", "block_cache_0", "block_1", "block_cache_1", "lm_head"])
        // With the family passed explicitly the model loads and answers too.
        let answer = try await Self.generate(model, ["--family", "wizardcoder", "--layers", "2", "--prompt", "Hi!"])
        #expect(answer["stop_reason"] as? String == "eos")
    }
}
