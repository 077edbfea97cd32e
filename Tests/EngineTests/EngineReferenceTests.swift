import Foundation
import TPUDeployKit
import Testing
import TPUDeployKit

/// tpu-llm-engine on the sim models and the simulated runtime, against `Tests/Reference/reference.py` (numpy,
/// float64, no KV cache, no masks): equal greedy tokens after the prompt pass and many cached steps, and across
/// chat rounds, prove the engine's masks, positions and KV bookkeeping for both layouts. Load failures must
/// exit 3 with one line saying why.
struct EngineReferenceTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Enough device memory for a sim model (its bmodel declares 4608 MiB of activations).
    static let roomyHeap: UInt64 = 8 << 30

    // MARK: - Running the engine and the reference

    /// Runs the engine with the simulated runtime (or `runtimeDirectory`) and a private simulator state folder.
    static func engine(_ arguments: [String], heapBytes: UInt64 = roomyHeap, runtimeDirectory: URL? = nil,
                       environment: [String: String] = [:]) async throws -> EngineTestSupport.ProcessOutcome
    {
        let runtime = try runtimeDirectory ?? EngineTestSupport.simRuntimeDirectory()
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-engine-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        // The shared runtime folder stays: other tests use it at the same time (`make test` removes its TMPDIR).
        defer { try? FileManager.default.removeItem(at: state) }
        return try await EngineTestSupport.run(
            EngineTestSupport.engineExecutable, arguments + ["--runtime-dir", runtime.path],
            environment: environment.merging(["TPU_SIM_NPU_HEAP_BYTES": String(heapBytes), "TPU_SIM_STATE_DIR": state.path]) { $1 })
    }

    /// `generate` on a sim model, its JSON output parsed.
    static func generate(_ model: URL, _ arguments: [String]) async throws -> [String: Any] {
        let name = model.lastPathComponent
        let outcome = try await engine(
            ["generate", "--model", model.appendingPathComponent("\(name).bmodel").path,
             "--tokenizer", model.appendingPathComponent("tokenizer.model").path, "--json"] + arguments)
        guard outcome.status == 0 else {
            throw Failure(description: "tpu-llm-engine generate exited \(outcome.status): \(outcome.standardError)")
        }
        return try json(outcome.standardOutput, from: "tpu-llm-engine generate")
    }

    static func reference(_ arguments: [String]) async throws -> [String: Any] {
        let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Reference/reference.py")
        let outcome = try await EngineTestSupport.run(EngineTestSupport.python, [script.path] + arguments)
        guard outcome.status == 0 else {
            throw Failure(description: "reference.py exited \(outcome.status): \(outcome.standardError)")
        }
        return try json(outcome.standardOutput, from: "reference.py")
    }

    static func json(_ text: String, from program: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Failure(description: "\(program) printed no JSON object: \(text)")
        }
        return object
    }

    static func ints(_ value: Any?) -> [Int] { (value as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }

    /// A sim model's model.json.
    static func configuration(_ model: URL) throws -> [String: Any] {
        try json(String(contentsOf: model.appendingPathComponent("model.json"), encoding: .utf8), from: "model.json")
    }

    /// ChatGLM2 prompts start with [gMASK] sop, like the family's prompt builder makes them.
    static func promptPrefix(_ model: URL) throws -> [Int] {
        let config = try configuration(model)
        guard config["family"] as? String == "chatglm2" else { return [] }
        let special = config["special_tokens"] as? [String: Any] ?? [:]
        guard let gmask = (special["[gMASK]"] as? NSNumber)?.intValue, let sop = (special["sop"] as? NSNumber)?.intValue else {
            throw Failure(description: "\(model.lastPathComponent)/model.json names no [gMASK]/sop ids")
        }
        return [gmask, sop]
    }

    // MARK: - Tokens equal the reference

    /// Prompts (after the family prefix) whose greedy answers run past 30 tokens on the sim models built by
    /// `make sim-models`; if the models change and these end early, pick others.
    @Test(arguments: [
        ("chatglm2-sim", [51, 252, 17, 460, 430, 202]),
        ("llama2-sim", [322, 507, 463, 315, 433, 3, 248, 468, 337, 179]),
    ])
    func promptPassAndCachedStepsMatchTheReference(model name: String, prompt: [Int]) async throws {
        let model = try EngineTestSupport.simModel(name)
        let ids = try Self.promptPrefix(model) + prompt
        let idList = ids.map(String.init).joined(separator: ",")
        let engine = try await Self.generate(model, ["--ids", idList, "--max-tokens", "60"])
        let reference = try await Self.reference(["generate", "--model-dir", model.path, "--ids", idList, "--max-tokens", "60"])
        let tokens = Self.ints(engine["tokens"])
        #expect(Self.ints(engine["prompt_ids"]) == ids)
        #expect(tokens == Self.ints(reference["tokens"]), "engine vs reference tokens on \(name)")
        #expect(engine["stop_reason"] as? String == reference["stop_reason"] as? String)
        // The prompt pass gives the first token; 30 more need 30 cached steps.
        #expect(tokens.count >= 31, "\(name) answered only \(tokens.count) tokens: choose a prompt with a longer answer")
    }

    /// A prompt that nearly fills the context: generation runs into the last KV rows and stops with `length`
    /// exactly where the reference does (prompt + answer = seq_len).
    @Test(arguments: ["chatglm2-sim", "llama2-sim"])
    func generationStopsWhenTheContextIsFull(model name: String) async throws {
        let model = try EngineTestSupport.simModel(name)
        let seqLen = (try Self.configuration(model)["seq_len"] as? NSNumber)?.intValue ?? 0
        let prefix = try Self.promptPrefix(model)
        let ids = prefix + (0..<(seqLen - 12 - prefix.count)).map { 3 + ($0 * 37) % 250 }
        let idList = ids.map(String.init).joined(separator: ",")
        let engine = try await Self.generate(model, ["--ids", idList])
        let reference = try await Self.reference(["generate", "--model-dir", model.path, "--ids", idList, "--max-tokens", "1000"])
        #expect(Self.ints(engine["tokens"]) == Self.ints(reference["tokens"]))
        #expect(engine["stop_reason"] as? String == reference["stop_reason"] as? String)
        if reference["stop_reason"] as? String == "length" {
            #expect(ids.count + Self.ints(engine["tokens"]).count == seqLen)
        }
    }

    /// Three chat rounds, each answer joining the history: prompt ids, tokens and text equal the reference's.
    @Test(arguments: ["chatglm2-sim", "llama2-sim"])
    func chatRoundsMatchTheReference(model name: String) async throws {
        let model = try EngineTestSupport.simModel(name)
        let family = try Self.configuration(model)["family"] as? String ?? ""
        let rounds = FileManager.default.temporaryDirectory.appendingPathComponent("rounds-\(UUID().uuidString).json")
        try Data(#"["The board boots.", "How much memory?", "Check the layout."]"#.utf8).write(to: rounds)
        defer { try? FileManager.default.removeItem(at: rounds) }
        let engine = try await Self.generate(model, ["--rounds", rounds.path, "--max-tokens", "12"])
        let reference = try await Self.reference(
            ["chat", "--model-dir", model.path, "--family", family, "--rounds", rounds.path, "--max-tokens", "12"])
        let engineRounds = engine["rounds"] as? [[String: Any]] ?? []
        let referenceRounds = reference["rounds"] as? [[String: Any]] ?? []
        #expect(engineRounds.count == 3)
        #expect(referenceRounds.count == 3)
        for (index, (mine, theirs)) in zip(engineRounds, referenceRounds).enumerated() {
            #expect(Self.ints(mine["prompt_ids"]) == Self.ints(theirs["prompt_ids"]), "round \(index + 1) prompt ids")
            #expect(Self.ints(mine["tokens"]) == Self.ints(theirs["tokens"]), "round \(index + 1) tokens")
            #expect(mine["text"] as? String == theirs["text"] as? String, "round \(index + 1) text")
            #expect(!Self.ints(mine["tokens"]).isEmpty, "round \(index + 1) answered nothing: the test proves little")
        }
    }

    /// Sampling is reproducible with a seed and differs from greedy decoding on a logits model.
    @Test func seededSamplingIsReproducible() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let arguments = ["--prompt", "The board boots.", "--max-tokens", "20", "--temperature", "1.5", "--top-p", "0.95"]
        let first = try await Self.generate(model, arguments + ["--seed", "7"])
        let again = try await Self.generate(model, arguments + ["--seed", "7"])
        let greedy = try await Self.generate(model, ["--prompt", "The board boots.", "--max-tokens", "20"])
        #expect(Self.ints(first["tokens"]) == Self.ints(again["tokens"]))
        #expect(Self.ints(first["tokens"]) != Self.ints(greedy["tokens"]))
    }

    // MARK: - Load failures: exit 3, one line with the reason

    func expectLoadFailure(_ outcome: EngineTestSupport.ProcessOutcome, mentioning fragments: [String]) {
        #expect(outcome.status == 3, "exit status \(outcome.status), stderr: \(outcome.standardError)")
        let lines = outcome.standardError.split(separator: "\n").map(String.init)
        #expect(lines.count == 1, "stderr: \(outcome.standardError)")
        #expect(lines.first?.hasPrefix("tpu-llm-engine: error: ") == true, "stderr: \(outcome.standardError)")
        for fragment in fragments {
            #expect(outcome.standardError.contains(fragment), "stderr lacks '\(fragment)': \(outcome.standardError)")
        }
        #expect(outcome.standardOutput.isEmpty)
    }

    func generateArguments(_ model: URL, tokenizer: String? = nil, bmodel: String? = nil) -> [String] {
        ["generate", "--model", bmodel ?? model.appendingPathComponent("\(model.lastPathComponent).bmodel").path,
         "--tokenizer", tokenizer ?? model.appendingPathComponent("tokenizer.model").path, "--ids", "1,5,9", "--json"]
    }

    @Test func layerCountMismatchIsALoadError() async throws {
        let model = try EngineTestSupport.simModel("chatglm2-sim")
        let outcome = try await Self.engine(generateArguments(model) + ["--layers", "28"])
        expectLoadFailure(outcome, mentioning: ["model has 3 blocks (block_0..block_2) but the profile says 28 layers"])
        let family = try await Self.engine(generateArguments(model) + ["--family", "llama2"])
        expectLoadFailure(family, mentioning: ["chatglm2", "llama2"])
    }

    @Test func missingTokenizerIsALoadError() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let missing = "/nonexistent/tokenizer.model"
        expectLoadFailure(try await Self.engine(generateArguments(model, tokenizer: missing)), mentioning: [missing, "does not exist"])
        // A file that is not a sentencepiece model.
        let bogus = FileManager.default.temporaryDirectory.appendingPathComponent("bogus-\(UUID().uuidString).model")
        try Data("not a tokenizer".utf8).write(to: bogus)
        defer { try? FileManager.default.removeItem(at: bogus) }
        expectLoadFailure(try await Self.engine(generateArguments(model, tokenizer: bogus.path)),
                          mentioning: ["not a sentencepiece model"])
    }

    @Test func corruptBModelIsALoadError() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let original = try Data(contentsOf: model.appendingPathComponent("llama2-sim.bmodel"))
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID().uuidString).bmodel")
        try original.prefix(3000).write(to: truncated)
        defer { try? FileManager.default.removeItem(at: truncated) }
        let outcome = try await Self.engine(generateArguments(model, bmodel: truncated.path))
        expectLoadFailure(outcome, mentioning: ["the runtime refused to load", truncated.path, "broken"])
    }

    @Test func wrongRuntimeDirectoryIsALoadError() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-runtime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let outcome = try await Self.engine(generateArguments(model), runtimeDirectory: empty)
        expectLoadFailure(outcome, mentioning: [empty.appendingPathComponent("libbmlib.so").path, "--runtime-dir"])
    }

    /// The runtime says it on stdout, as libbmlib and libbmrt do; the engine's one error line carries its words.
    @Test func tooSmallNPUHeapIsALoadErrorWithTheRuntimesReason() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let outcome = try await Self.engine(generateArguments(model), heapBytes: 1_073_741_824)
        expectLoadFailure(outcome, mentioning: [
            "the runtime refused to load", "out of device memory, the NPU heap is too small for this model",
            "bm_get_stat: 1024 MiB of device memory", "the runtime said: bm_alloc_gmem failed, dev_id = 0, size = 0x20000000",
            "device mem alloc failed: size=4831838208",
        ])
        #expect(Self.toolSeesAShortage(outcome), "launch and verify must offer fix-memory for: \(outcome.standardError)")
    }

    /// Whether tpudeploy, given this failure as the engine's /health reason (the same text), offers fix-memory.
    static func toolSeesAShortage(_ outcome: EngineTestSupport.ProcessOutcome) -> Bool {
        let reason = outcome.standardError.split(separator: "\n").last { $0.hasPrefix("tpu-llm-engine: error: ") }
            .map { String($0.dropFirst("tpu-llm-engine: error: ".count)) }
        return EngineHealth(status: .failed, reason: reason).isNPUMemoryShortage
    }

    /// With BMRT_LOG_VERSION=0 the runtime prints its INFO lines on stdout while loading (libbmrt's log level
    /// variable); `info` and `generate --json` still print nothing but their JSON there, and the lines reach stderr.
    @Test func jsonOnStdoutStaysCleanWhileTheRuntimePrints() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let bmodel = model.appendingPathComponent("llama2-sim.bmodel").path
        let chatty = ["BMRT_LOG_VERSION": "0"]
        let info = try await Self.engine(["info", "--model", bmodel], environment: chatty)
        let generate = try await Self.engine(generateArguments(model) + ["--max-tokens", "3"], environment: chatty)
        for (command, outcome) in [("info", info), ("generate", generate)] {
            #expect(outcome.status == 0, "\(command): \(outcome.standardError)")
            #expect(outcome.standardOutput.split(separator: "\n").count == 1, "\(command) stdout: \(outcome.standardOutput)")
            #expect(throws: Never.self, "\(command) stdout: \(outcome.standardOutput)") {
                try Self.json(outcome.standardOutput, from: command)
            }
            #expect(outcome.standardError.contains("[BMRT][load_bmodel:"), "\(command) stderr: \(outcome.standardError)")
            #expect(outcome.standardError.contains("INFO:Loading bmodel from [\(bmodel)]"), "\(command) stderr: \(outcome.standardError)")
        }
        #expect(Self.ints(try Self.json(generate.standardOutput, from: "generate")["tokens"]).count == 3)
    }

    /// A heap that holds the model (4608 MiB of neuron memory and weights smaller than the file) but not the
    /// engine's KV cache and buffers: libbmlib prints its out-of-memory line on stdout after the load, while the
    /// engine allocates them. `generate --json` keeps stdout empty; the engine captures the line as it does while
    /// loading, and its one error line on stderr says why in the runtime's words.
    @Test func runtimeLinesPrintedAfterTheLoadStayOffStdout() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let fileSize = try FileManager.default.attributesOfItem(atPath: model.appendingPathComponent("llama2-sim.bmodel").path)[.size] as! UInt64
        let outcome = try await Self.engine(generateArguments(model), heapBytes: (4608 << 20) + fileSize)
        #expect(outcome.status == 3, "\(outcome.standardError)")
        #expect(outcome.standardOutput.isEmpty, "stdout: \(outcome.standardOutput)")
        #expect(outcome.standardError.contains("out of device memory, the NPU heap is too small for this model"), "\(outcome.standardError)")
        #expect(Self.toolSeesAShortage(outcome))
        // The engine's one error line (its /health reason when it serves) carries the runtime's own words.
        let errorLine = outcome.standardError.split(separator: "\n").last { $0.hasPrefix("tpu-llm-engine: error: ") } ?? ""
        #expect(errorLine.contains("the runtime said: bm_alloc_gmem failed, dev_id = 0, size = 0x"), "\(errorLine)")
        #expect(errorLine.contains("bm_get_stat: \(((4608 << 20) + fileSize) >> 20) MiB of device memory"), "\(errorLine)")
    }

    /// A bmodel over 4 GiB (its weights past a sparse 4 GiB hole, binary_size wrapped, chip BM1686) gives the
    /// tokens of the original.
    @Test func aBModelOver4GiBGivesTheTokensOfTheOriginal() async throws {
        let model = try EngineTestSupport.simModel("llama2-sim")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("engine-big-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let big = try await SimRuntimeTests.bigModel("llama2-sim", holeGiB: 4, chip: "BM1686", in: folder)
        let arguments = ["--max-tokens", "12"]
        let original = try await Self.engine(generateArguments(model) + arguments)
        let large = try await Self.engine(generateArguments(model, bmodel: big) + arguments)
        #expect(large.status == 0, "\(large.standardError)")
        let tokens = Self.ints(try Self.json(original.standardOutput, from: "generate")["tokens"])
        #expect(tokens.count == 12)
        #expect(Self.ints(try Self.json(large.standardOutput, from: "generate")["tokens"]) == tokens)
    }

    /// What the engine and the runtime allocate is exactly what the tool computes (ModelMemoryNeed): a heap of that
    /// many bytes serves the model, one byte less does not.
    @Test(arguments: ["chatglm2-sim", "llama2-sim", "wizardcoder-sim"])
    func theComputedNeedIsWhatTheEngineAllocates(name: String) async throws {
        let model = try EngineTestSupport.simModel(name)
        let need = ModelMemoryNeed(model: try BModel(contentsOf: model.appendingPathComponent("\(name).bmodel").path)).totalBytes
        let tokenizer = model.appendingPathComponent(name == "wizardcoder-sim" ? "vocab.json" : "tokenizer.model").path
        let arguments = generateArguments(model, tokenizer: tokenizer) + ["--max-tokens", "2"]
        let exact = try await Self.engine(arguments, heapBytes: need)
        #expect(exact.status == 0, "\(exact.standardError)")
        let short = try await Self.engine(arguments, heapBytes: need - 1)
        #expect(short.status == 3, "\(short.standardError)")
    }

    @Test func infoDescribesTheNets() async throws {
        let model = try EngineTestSupport.simModel("chatglm2-sim")
        let outcome = try await Self.engine(["info", "--model", model.appendingPathComponent("chatglm2-sim.bmodel").path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let info = try Self.json(outcome.standardOutput, from: "tpu-llm-engine info")
        #expect(info["family"] as? String == "chatglm2")
        #expect(info["layout"] as? String == "sophgo/LLM-TPU")
        #expect((info["layers"] as? NSNumber)?.intValue == 3)
        #expect((info["seq_len"] as? NSNumber)?.intValue == 128)
        #expect((info["nets"] as? [String])?.contains("block_cache_2") == true)
    }
}
