import Foundation
import Testing
@testable import TPUDeployKit

/// The sim models of `make sim-models` (docs/sim-models.md): real bmodel files our reader accepts, whose weights
/// are the ones the independent reference computes with, and a reference that decodes them deterministically.
@Suite struct SimModelTests {
    struct SimModel: CustomStringConvertible, Sendable {
        let name: String
        let family: String
        let layers: Int
        var description: String { name }

        var netNames: [String] {
            ["embedding", "embedding_cache"] + (0..<layers).flatMap { ["block_\($0)", "block_cache_\($0)"] } + ["lm_head"]
        }
    }

    static let models = [
        SimModel(name: "chatglm2-sim", family: "chatglm2", layers: 3),
        SimModel(name: "llama2-sim", family: "llama2", layers: 4),
    ]

    static let profiles = ProfileStore(directory: EngineTestSupport.repositoryRoot.appendingPathComponent("Profiles"))
    static let mebibyte: UInt64 = 1 << 20

    /// model.json of a sim model.
    struct Description: Decodable {
        let family: String
        let layers: Int
        let hidden: Int
        let seq_len: Int
        let vocab_size: Int
        let table_rows: Int
        let eos_id: Int
        let bos_id: Int
        let special_tokens: [String: Int]
    }

    static func description(_ directory: URL) throws -> Description {
        try JSONDecoder().decode(Description.self, from: Data(contentsOf: directory.appendingPathComponent("model.json")))
    }

    static func bmodelPath(_ model: SimModel) throws -> String {
        try EngineTestSupport.simModel(model.name).appendingPathComponent("\(model.name).bmodel").path
    }

    // MARK: - The file is a BM1684X bmodel that needs more than the factory NPU heap

    /// A profile whose family reads another kind of tokenizer than the files give is refused before any board,
    /// naming the model: Qwen2's BPE files under a Llama2 profile, Llama2's sentencepiece model under Qwen2's.
    @Test func aProfileOfAnotherFamilyIsRefusedByTheLocalChecks() throws {
        let qwen = try EngineTestSupport.simModel("qwen2-sim"), llama = try EngineTestSupport.simModel("llama2-sim")
        let cases = [("llama2-sim", qwen.appendingPathComponent("qwen2-sim.bmodel").path, qwen.appendingPathComponent("vocab.json").path),
                     ("qwen2-sim", llama.appendingPathComponent("llama2-sim.bmodel").path, llama.appendingPathComponent("tokenizer.model").path)]
        for (profileName, bmodel, tokenizer) in cases {
            let profile = try Self.profiles.model(named: profileName)
            #expect {
                _ = try LocalModelFiles(bmodel: bmodel, tokenizer: tokenizer, profile: profile)
            } throws: { error in
                guard case PushError.modelFamilyMismatch(let model, let named, _, _) = error else { return false }
                return model == bmodel && named == profileName && "\(error)".contains(tokenizer)
            }
        }
        // The right profiles pass.
        _ = try LocalModelFiles(bmodel: cases[0].1, tokenizer: cases[0].2, profile: try Self.profiles.model(named: "qwen2-sim"))
        _ = try LocalModelFiles(bmodel: cases[1].1, tokenizer: cases[1].2, profile: try Self.profiles.model(named: "llama2-sim"))
    }

    /// Every sim model's profile states what its file needs: the whole (rounded up to MiB) and the largest single
    /// allocation, which decides on which boards no layout can load it.
    @Test(arguments: ["chatglm2-sim", "llama2-sim", "qwen2-sim", "wizardcoder-sim", "chatglm2-2023-sim", "llama2-2023-sim", "wizardcoder-2023-sim"])
    func eachSimProfileStatesItsFilesNeed(name: String) throws {
        let bmodel = try BModel(contentsOf: try EngineTestSupport.simModel(name).appendingPathComponent("\(name).bmodel").path)
        let need = ModelMemoryNeed(model: bmodel)
        let profile = try Self.profiles.model(named: name)
        func roundedUp(_ bytes: UInt64) -> UInt64 { (bytes + Self.mebibyte - 1) / Self.mebibyte * Self.mebibyte }
        #expect(profile.npuMemoryBytes == roundedUp(need.totalBytes), "npu_memory_mib in \(profile.sourceFile)")
        #expect(profile.largestAllocationBytes == roundedUp(need.largestAllocationBytes), "largest_allocation_mib in \(profile.sourceFile)")
    }

    @Test(arguments: models) func parsesAsABM1684XModelWithTheProfilesMemory(model: SimModel) throws {
        let directory = try EngineTestSupport.simModel(model.name)
        let bmodel = try BModel(contentsOf: try Self.bmodelPath(model))
        let described = try Self.description(directory)
        try bmodel.requireChip("BM1684X", path: model.name)
        #expect(bmodel.netNames == model.netNames)
        #expect(bmodel.neuronBytes == 4608 * Self.mebibyte)
        // The need once served (ModelMemoryNeed): its one neuron block alone (4608 MiB) is larger than any heap of the
        // factory layout, so the runtime cannot load it there even by spilling into VPP and VPU.
        let need = ModelMemoryNeed(model: bmodel)
        #expect(need.engineLayoutKnown)
        #expect(need.largestAllocationBytes == 4608 * Self.mebibyte)
        #expect(need.largestAllocationBytes > 3950 * Self.mebibyte, "the factory NPU heap must not be enough")
        #expect(need.bytes(for: .kvCache) > 0 && need.bytes(for: .engineBuffer) > 0)

        let profile = try Self.profiles.model(named: model.name)
        let roundedUp = (need.totalBytes + Self.mebibyte - 1) / Self.mebibyte * Self.mebibyte
        #expect(profile.npuMemoryBytes == roundedUp, "npu_memory_mib in \(profile.sourceFile)")
        #expect(profile.family == model.family && described.family == model.family)
        #expect(profile.layers == model.layers && described.layers == model.layers)
        #expect(profile.sequenceLength == described.seq_len)

        // The runner reads SEQLEN from the embedding's input and the vocabulary from the lm_head's output.
        let nets = Dictionary(uniqueKeysWithValues: bmodel.nets.map { ($0.name, $0) })
        let embedding = try #require(nets["embedding"]?.stages.first)
        #expect(embedding.inputs.map(\.shape) == [[1, UInt64(described.seq_len)]])
        #expect(embedding.inputs.first?.dataType == 6)
        let head = try #require(nets["lm_head"]?.stages.first)
        #expect(head.inputs.map(\.shape) == [[1, UInt64(described.hidden)]])
        if model.family == "chatglm2" {
            #expect(described.table_rows == described.vocab_size + 5)
            #expect(head.outputs.map(\.shape) == [[1, 1]] && head.outputs.first?.dataType == 6)
        } else {
            #expect(described.table_rows == described.vocab_size)
            #expect(head.outputs.map(\.shape) == [[1, UInt64(described.table_rows)]] && head.outputs.first?.dataType == 0)
        }
        for index in 0..<model.layers {
            let prompt = try #require(nets["block_\(index)"]?.stages.first)
            let cache = try #require(nets["block_cache_\(index)"]?.stages.first)
            #expect(prompt.inputs.count == 3 && prompt.outputs.count == 3)
            #expect(cache.inputs.count == 5 && cache.outputs.count == 3)
            #expect(cache.inputs[2].shape == [1, 1, 1, UInt64(described.seq_len + 1)])
            #expect(prompt.coefficientStart == cache.coefficientStart && prompt.coefficientBytes == cache.coefficientBytes,
                    "block_\(index) and block_cache_\(index) share their weights")
        }
    }

    // MARK: - The bmodel's coefficients are the reference's weights

    @Test(arguments: models) func everyWeightInTheBModelIsTheReferencesWeight(model: SimModel) async throws {
        let directory = try EngineTestSupport.simModel(model.name)
        let file = try BModelFile(path: try Self.bmodelPath(model))
        let weights = try await Self.referenceWeights(directory)
        var used = Set<String>()
        for net in try file.root.tables(4) {
            let name = try #require(try net.string(0))
            let parameter = try #require(try net.tables(3).first)
            let coefficients = try #require(try parameter.table(4))
            let (start, size) = try #require(try coefficients.u64Pair(2))
            let range = try file.blob(start: start, size: size)
            #expect(try Self.bytes(coefficients, field: 1) == Digest.sha256(range), "check_code of \(name)")

            var expected = Self.expectedLocations(net: name)
            var offset: UInt64 = 0
            for location in try coefficients.tables(3) {
                let locationName = try #require(try location.string(0))
                #expect(locationName == expected.first?.location, "location order in \(name)")
                let weightName = expected.isEmpty ? locationName : expected.removeFirst().weight
                #expect(try location.u64(1) == offset, "\(name).\(locationName) follows the previous weight")
                let length = try location.u64(2)
                let stored = try file.blob(start: start + offset, size: length)
                let same = stored == weights[weightName]  // a Bool, so a failure does not print the bytes
                #expect(same, "\(name).\(locationName) (\(length) bytes) is weights.npz \(weightName)")
                used.insert(weightName)
                offset += length
            }
            #expect(expected.isEmpty, "\(name) lacks \(expected.map(\.location))")
            #expect(offset == size, "the locations of \(name) cover its coefficients")

            // The CPU parameter block the simulated runtime interprets.
            let subnet = try #require(try parameter.tables(12).first)
            #expect(try subnet.u32(0) == 1, "\(name) is a CPU subnet")
            let cpuParameter = try #require(try subnet.tables(2).first)
            let op = try cpuParameter.u32(0)
            let (paramStart, paramSize) = try #require(try cpuParameter.u64Pair(1))
            #expect(paramSize == 64)
            let words = try file.blob(start: paramStart, size: 64).withUnsafeBytes { raw in
                (0..<16).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            #expect(Array(words[0...2]) == [0x4D49_5354, 1, op], "magic, version and op of \(name)")
            #expect(words[3] == (model.family == "chatglm2" ? 0 : 1) && words[12] == (model.family == "chatglm2" ? 1 : 0))
            #expect(words[11] == UInt32(name.split(separator: "_").last.flatMap { Int($0) } ?? 0), "layer of \(name)")
        }
        #expect(used == Set(weights.keys), "every weight of weights.npz is in the bmodel")
    }

    /// (location name, weights.npz name) expected in a net, in blob order.
    static func expectedLocations(net: String) -> [(location: String, weight: String)] {
        if net.hasPrefix("embedding") { return [("embed", "embed")] }
        if net == "lm_head" { return [("final_norm", "final_norm"), ("lm", "lm")] }
        let layer = net.split(separator: "_").last.map(String.init) ?? ""
        return ["attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up", "w_down"].map { ($0, "block_\(layer).\($0)") }
    }

    /// weights.npz as little-endian fp32 bytes per array, read by numpy.
    static func referenceWeights(_ directory: URL) async throws -> [String: [UInt8]] {
        let script = """
            import base64, json, sys, numpy
            with numpy.load(sys.argv[1]) as archive:
                print(json.dumps({name: base64.b64encode(archive[name].astype("<f4").tobytes()).decode() for name in archive.files}))
            """
        let outcome = try await EngineTestSupport.run(
            EngineTestSupport.python, ["-c", script, directory.appendingPathComponent("weights.npz").path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let encoded = try JSONDecoder().decode([String: String].self, from: Data(outcome.standardOutput.utf8))
        return try encoded.mapValues { try #require(Data(base64Encoded: $0)).map { $0 } }
    }

    /// A `[uint8]` vector field of a table (the reader has no accessor for it; check_code is one).
    static func bytes(_ table: FlatBufferTable, field: Int) throws -> [UInt8]? {
        let buffer = table.buffer
        let vtable = table.position - Int(Int32(bitPattern: try FlatBufferTable.u32(buffer, table.position)))
        let entry = 4 + 2 * field
        guard entry + 2 <= Int(try FlatBufferTable.u16(buffer, vtable)) else { return nil }
        let offset = Int(try FlatBufferTable.u16(buffer, vtable + entry))
        guard offset != 0 else { return nil }
        let slot = table.position + offset
        let vector = slot + Int(try FlatBufferTable.u32(buffer, slot))
        let count = Int(try FlatBufferTable.u32(buffer, vector))
        guard vector + 4 + count <= buffer.count else { return nil }
        return Array(buffer[(vector + 4)..<(vector + 4 + count)])
    }

    /// The whole bmodel file: its FlatBuffers root and its blob.
    struct BModelFile {
        let bytes: [UInt8]
        let root: FlatBufferTable
        let blobStart: Int

        init(path: String) throws {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let flatBuffersSize = Int(try FlatBufferTable.u32(bytes, 8))
            root = try FlatBufferTable(root: Array(bytes[64..<(64 + flatBuffersSize)]))
            blobStart = 64 + flatBuffersSize
            #expect(UInt64(bytes.count) == UInt64(blobStart) + UInt64(try FlatBufferTable.u32(bytes, 12)))
        }

        func blob(start: UInt64, size: UInt64) throws -> [UInt8] {
            let from = blobStart + Int(start), to = from + Int(size)
            guard to <= bytes.count else { throw EngineTestSupport.MissingPrerequisite(description: "range past the file end") }
            return Array(bytes[from..<to])
        }
    }

    // MARK: - The independent reference decodes them deterministically

    struct Generation: Decodable, Equatable {
        let tokens: [Int]
        let stop_reason: String
        let min_margin: Double
    }

    static let reference = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Reference/reference.py")

    @Test(arguments: models) func theReferenceGivesTheSameLongAnswerEveryTime(model: SimModel) async throws {
        let directory = try EngineTestSupport.simModel(model.name)
        let described = try Self.description(directory)
        let start = model.family == "chatglm2"
            ? [try #require(described.special_tokens["[gMASK]"]), try #require(described.special_tokens["sop"])]
            : [described.bos_id]
        let prompt = (start + Array(300...304)).map(String.init).joined(separator: ",")
        let arguments = [Self.reference.path, "generate", "--model-dir", directory.path, "--ids", prompt, "--max-tokens", "40"]
        var runs: [Generation] = []
        for _ in 0..<2 {
            let outcome = try await EngineTestSupport.run(EngineTestSupport.python, arguments)
            #expect(outcome.status == 0, "\(outcome.standardError)")
            runs.append(try JSONDecoder().decode(Generation.self, from: Data(outcome.standardOutput.utf8)))
        }
        #expect(runs[0] == runs[1])
        let answer = runs[0]
        #expect(answer.tokens.count >= 20)
        #expect(Set(answer.tokens).count >= 10, "the answer varies: \(answer.tokens)")
        #expect(!answer.tokens.contains(described.eos_id))
        #expect(answer.tokens.allSatisfy { $0 >= 259 && $0 < described.vocab_size }, "only ordinary pieces: \(answer.tokens)")
        #expect(answer.min_margin > 1e-3, "the top-1/top-2 gap must stay far above fp32 rounding")
    }

    struct Chat: Decodable {
        struct Round: Decodable {
            let prompt_ids: [Int]
            let tokens: [Int]
            let text: String
            let stop_reason: String
        }
        let rounds: [Round]
    }

    @Test(arguments: models) func aTwoRoundChatAnswersBothRoundsAndEndsWithEOS(model: SimModel) async throws {
        let directory = try EngineTestSupport.simModel(model.name)
        let described = try Self.description(directory)
        let rounds = FileManager.default.temporaryDirectory.appendingPathComponent("sim-rounds-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: rounds) }
        let queries = model.family == "chatglm2" ? ["你好", "今天天气好吗？"] : ["Hi!", "Tell me a story."]
        try JSONEncoder().encode(queries).write(to: rounds)
        let outcome = try await EngineTestSupport.run(EngineTestSupport.python, [
            Self.reference.path, "chat", "--model-dir", directory.path, "--family", model.family,
            "--rounds", rounds.path, "--max-tokens", "60",
        ])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let chat = try JSONDecoder().decode(Chat.self, from: Data(outcome.standardOutput.utf8))
        try #require(chat.rounds.count == 2)
        let start = model.family == "chatglm2"
            ? [described.special_tokens["[gMASK]"], described.special_tokens["sop"]].compactMap { $0 } : [described.bos_id]
        for round in chat.rounds {
            #expect(Array(round.prompt_ids.prefix(start.count)) == start)
            #expect(!round.tokens.isEmpty && !round.text.isEmpty)
            #expect(round.stop_reason == "eos", "the weights make an answer end after a few dozen tokens")
        }
        // The second prompt carries the first round: it starts like the first prompt.
        let first = chat.rounds[0].prompt_ids
        #expect(Array(chat.rounds[1].prompt_ids.prefix(first.count - 1)) == Array(first.dropLast()))
    }
}
