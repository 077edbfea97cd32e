import Foundation
import Testing
@testable import TPUDeployKit

/// tpu-llm-engine on sim models laid out like the 2023 seed repositories' own bmodels (docs/sim-models.md "2023
/// layouts"), against `Tests/Reference/reference.py`:
/// - chatglm2-2023-sim, sophgo/ChatGLM2-TPU: glm_block_N / glm_block_cache_N, one `embedding` with two stages
///   ([1] and [S]), an fp32 mask where 1.0 means masked (the simulated block adds mask × −10000, so an engine that
///   writes LLM-TPU's −10000 there attends to nothing but padding and its tokens differ);
/// - llama2-2023-sim, sophgo/Llama2-TPU: `embedding` [S] and `embedding_cache` [1] on 1-D ids, lm_head → token;
/// - wizardcoder-2023-sim, enigma9981/Wizardcoder-TPU: 1-D ids and positions, masks [S,S] and [1,S+1], lm_head
///   [H] → [1].
/// The engine is given no family or layout: it must find the convention in the nets.
struct SeedRepositoryLayoutTests {
    struct Layout: CustomStringConvertible, Sendable {
        let name: String
        let family: String
        /// What `info` and /health say the nets follow.
        let layout: String
        let layers: Int
        let seqLen: Int
        /// Net names in file order (model_tool --combine order of the repository's compile.sh).
        let nets: [String]
        /// Chat messages whose answers end with EOS within the context.
        let rounds: [String]
        var description: String { name }

        var tokenizer: String { family == "wizardcoder" ? "" : "tokenizer.model" }
    }

    static func blocks(_ prefix: String, _ layers: Int) -> [String] {
        (0..<layers).flatMap { ["\(prefix)\($0)", "\(prefix)cache_\($0)"] }
    }

    static let layouts = [
        Layout(name: "chatglm2-2023-sim", family: "chatglm2", layout: "sophgo/ChatGLM2-TPU (2023)", layers: 2, seqLen: 128,
               nets: ["embedding", "lm_head"] + blocks("glm_block_", 2),
               rounds: ["The board boots.", "How much memory?"]),
        Layout(name: "llama2-2023-sim", family: "llama2", layout: "sophgo/Llama2-TPU (2023)", layers: 3, seqLen: 128,
               nets: ["embedding_cache", "embedding", "lm_head"] + blocks("block_", 3),
               rounds: ["The board boots.", "How much memory?"]),
        Layout(name: "wizardcoder-2023-sim", family: "wizardcoder", layout: "enigma9981/Wizardcoder-TPU (2023)",
               layers: 3, seqLen: 256,
               nets: ["embedding", "lm_head"] + blocks("block_", 3),
               rounds: ["Write a function that adds two numbers.", "Now in C.", "Explain it."]),
    ]

    static func generate(_ layout: Layout, _ extra: [String]) async throws -> [String: Any] {
        let model = try EngineTestSupport.simModel(layout.name)
        let outcome = try await EngineReferenceTests.engine(
            ["generate", "--model", model.appendingPathComponent("\(layout.name).bmodel").path,
             "--tokenizer", model.appendingPathComponent(layout.tokenizer).path, "--json"] + extra)
        guard outcome.status == 0 else {
            throw EngineReferenceTests.Failure(
                description: "tpu-llm-engine generate on \(layout.name) exited \(outcome.status): \(outcome.standardError)")
        }
        return try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine generate")
    }

    static let ints = EngineReferenceTests.ints

    /// Chat rounds: the family's prompt, the prompt pass and every cached step give the reference's tokens.
    @Test(arguments: layouts) func chatRoundsMatchTheReference(layout: Layout) async throws {
        let model = try EngineTestSupport.simModel(layout.name)
        let rounds = FileManager.default.temporaryDirectory.appendingPathComponent("seed-rounds-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: layout.rounds).write(to: rounds)
        defer { try? FileManager.default.removeItem(at: rounds) }
        let engine = try await Self.generate(layout, ["--rounds", rounds.path, "--max-tokens", "40"])
        let reference = try await EngineReferenceTests.reference(
            ["chat", "--model-dir", model.path, "--family", layout.family, "--rounds", rounds.path, "--max-tokens", "40"])
        let engineRounds = engine["rounds"] as? [[String: Any]] ?? []
        let referenceRounds = reference["rounds"] as? [[String: Any]] ?? []
        #expect(engineRounds.count == layout.rounds.count && referenceRounds.count == layout.rounds.count)
        var cachedSteps = 0
        for (index, (mine, theirs)) in zip(engineRounds, referenceRounds).enumerated() {
            #expect(Self.ints(mine["prompt_ids"]) == Self.ints(theirs["prompt_ids"]), "\(layout.name) round \(index + 1) prompt ids")
            #expect(Self.ints(mine["tokens"]) == Self.ints(theirs["tokens"]), "\(layout.name) round \(index + 1) tokens")
            #expect(mine["text"] as? String == theirs["text"] as? String, "\(layout.name) round \(index + 1) text")
            #expect(mine["stop_reason"] as? String == theirs["stop_reason"] as? String)
            cachedSteps += Self.ints(mine["tokens"]).count
        }
        #expect(cachedSteps >= 50, "\(layout.name) answered only \(cachedSteps) tokens: the rounds prove little")
    }

    /// A prompt that nearly fills the context: the cached steps run into the last KV rows (ChatGLM2-TPU and
    /// Wizardcoder-TPU keep the cache right-aligned, Llama2-TPU left-aligned) and stop where the reference does.
    @Test(arguments: layouts) func generationStopsWhenTheContextIsFull(layout: Layout) async throws {
        let model = try EngineTestSupport.simModel(layout.name)
        let prefix = try EngineReferenceTests.promptPrefix(model)
        let ids = prefix + (0..<(layout.seqLen - 12 - prefix.count)).map { 3 + ($0 * 37) % 250 }
        let idList = ids.map(String.init).joined(separator: ",")
        let engine = try await Self.generate(layout, ["--ids", idList])
        let reference = try await EngineReferenceTests.reference(
            ["generate", "--model-dir", model.path, "--ids", idList, "--max-tokens", "1000"])
        #expect(Self.ints(engine["tokens"]) == Self.ints(reference["tokens"]), "\(layout.name) tokens")
        #expect(engine["stop_reason"] as? String == reference["stop_reason"] as? String)
        if reference["stop_reason"] as? String == "length" {
            #expect(ids.count + Self.ints(engine["tokens"]).count == layout.seqLen)
        }
    }

    /// `info` reads the family, the layout, the layer count and SEQLEN from the nets alone (SEQLEN from the first block: the
    /// two-stage embeddings describe their one-token stage first).
    @Test(arguments: layouts) func familyLayersAndContextComeFromTheNets(layout: Layout) async throws {
        let model = try EngineTestSupport.simModel(layout.name)
        let outcome = try await EngineReferenceTests.engine(
            ["info", "--model", model.appendingPathComponent("\(layout.name).bmodel").path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let info = try EngineReferenceTests.json(outcome.standardOutput, from: "tpu-llm-engine info")
        #expect(info["family"] as? String == layout.family)
        #expect(info["layout"] as? String == layout.layout)
        #expect((info["layers"] as? NSNumber)?.intValue == layout.layers)
        #expect((info["seq_len"] as? NSNumber)?.intValue == layout.seqLen)
        #expect(info["nets"] as? [String] == layout.nets)
    }

    /// The profile a user deploys the model with agrees with the file (family, layers, SEQLEN, NPU need), push's
    /// tokenizer check pairs the file with its tokenizer, and a profile's layer count that does not match is
    /// refused naming the glm_block nets.
    @Test(arguments: layouts) func theProfileDescribesTheFile(layout: Layout) async throws {
        let model = try EngineTestSupport.simModel(layout.name)
        let bmodel = try BModel(contentsOf: model.appendingPathComponent("\(layout.name).bmodel").path)
        #expect(bmodel.netNames == layout.nets)
        let profile = try SimModelTests.profiles.model(named: layout.name)
        let mebibyte = SimModelTests.mebibyte
        // The whole need once served (ModelMemoryNeed: weights, neuron memory, KV cache, engine buffers), as for
        // every model profile.
        #expect(profile.npuMemoryBytes == (ModelMemoryNeed(model: bmodel).totalBytes + mebibyte - 1) / mebibyte * mebibyte)
        #expect(profile.family == layout.family && profile.layers == layout.layers && profile.sequenceLength == layout.seqLen)
        if layout.family != "wizardcoder" {
            // push's tokenizer check finds the vocabulary in the embedding table (lm_head returns a token).
            let pieces = try #require(SentencePieceModel.pieceCount(
                [UInt8](try Data(contentsOf: model.appendingPathComponent("tokenizer.model")))))
            let pairing = try TokenizerPairing.check(pieces: pieces, family: layout.family, model: bmodel,
                                                     tokenizerName: "tokenizer.model", modelName: layout.name)
            #expect(pairing.verdict == .matches && pairing.source == "embedding_weights")
        }
        let loaded = try await Self.generate(layout, ["--family", profile.family, "--layers", String(layout.layers), "--ids", "5,9"])
        #expect(loaded["stop_reason"] != nil)
        if layout.family == "chatglm2" {
            let outcome = try await EngineReferenceTests.engine(
                ["generate", "--model", model.appendingPathComponent("\(layout.name).bmodel").path,
                 "--tokenizer", model.appendingPathComponent(layout.tokenizer).path, "--json", "--ids", "5,9", "--layers", "28"])
            EngineReferenceTests().expectLoadFailure(
                outcome, mentioning: ["model has 2 blocks (glm_block_0..glm_block_1) but the profile says 28 layers"])
        }
    }
}
