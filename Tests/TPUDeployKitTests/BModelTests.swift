import Foundation
import Testing
@testable import TPUDeployKit

/// bmodel fixtures: JSON sources compiled by flatc (an encoder we did not write) and packed with the header by
/// Tests/Fixtures/make-bmodel-fixtures.sh, run once per test process.
enum BModelFixture {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let built: Result<URL, Error> = Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [fixtures.appendingPathComponent("make-bmodel-fixtures.sh").path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw LocalFile.Failure(path: "make-bmodel-fixtures.sh", reason: "failed") }
        return fixtures.appendingPathComponent("build-bmodel")
    }

    static func path(_ name: String) throws -> String { try built.get().appendingPathComponent(name).path }

    /// The JSON source, decoded by Foundation: what the reader must find in the binary.
    static func source() throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("bmodel/tiny-chatglm2.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

@Suite struct BModelTests {
    @Test func readsWhatFlatcEncoded() throws {
        let model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        let source = try BModelFixture.source()
        let nets = source["net"] as? [[String: Any]] ?? []
        #expect(model.chip == "BM1684X")
        #expect(model.version == "2.2")
        #expect(model.netNames == nets.map { $0["name"] as? String ?? "" })
        #expect(model.neuronBytes == 1 << 30)
        let block = try #require(model.nets.first { $0.name == "block_0" }?.stages.first)
        #expect(block.inputs.map(\.name) == ["input_states", "position_ids", "attention_mask"])
        #expect(block.inputs[2].shape == [1, 1, 512, 512])
        #expect(block.inputs[1].dataType == 6)
        #expect(block.outputs[1].bytes == 262_144)
        #expect(block.contextBytes == 67_108_864)
    }

    @Test func sharedWeightsAreCountedOnce() throws {
        let model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        // block_0 and block_cache_0 share one coefficient range, as compiled LLM blocks do.
        #expect(model.coefficientBytes == 532_676_608 + 209_715_200 + 266_338_304)
        #expect(model.npuMemoryBytes == model.coefficientBytes + (1 << 30))
    }

    @Test func damagedFilesAreNamed() throws {
        #expect {
            try BModel(contentsOf: BModelFixture.path("bad-magic.bmodel"))
        } throws: { error in
            "\(error)".contains("is not a bmodel file") && "\(error)".contains("0xff55aaff")
        }
        #expect {
            try BModel(contentsOf: BModelFixture.path("truncated.bmodel"))
        } throws: { error in
            if case BModelError.truncated = error { return "\(error)".contains("interrupted copy") }
            return false
        }
        #expect(throws: BModelError.self) { try BModel(contentsOf: "/nonexistent.bmodel") }
    }

    @Test func aModelForAnotherChipIsRefused() throws {
        let model = try BModel(contentsOf: BModelFixture.path("old-chip.bmodel"))
        #expect(model.chip == "BM1684")
        #expect {
            try model.requireChip("BM1684X", path: "old-chip.bmodel")
        } throws: { error in
            "\(error)".contains("compiled for BM1684, but the board is a BM1684X")
        }
    }

    @Test func garbageInsideTheFlatBuffersPartIsAnErrorNotACrash() throws {
        var bytes = try LocalFile.readPrefix(BModelFixture.path("tiny-chatglm2.bmodel"), count: 4096)
        // Point the root table offset far outside the buffer.
        bytes.bytes[64] = 0xFF
        bytes.bytes[65] = 0xFF
        #expect(throws: BModelError.self) {
            try BModel(headerAndModel: bytes.bytes, fileSize: bytes.fileSize, path: "damaged.bmodel")
        }
    }

    @Test func fixMemoryForABModelSizesTheNPUHeapFromIt() throws {
        let model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        let profiles = ProfileStore(directory: BModelFixture.fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Profiles"))
        let board = try profiles.board(named: "1684x_evb")
        let sizing = try LayoutChoice.modelFile(path: "x/tiny-chatglm2.bmodel", model: model).sizing(for: board)
        let request = try sizing.request(limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096))
        // The need is what loading it allocates (ModelMemoryNeed), not the header's neuron_size plus the weights.
        let need = ModelMemoryNeed(model: model).totalBytes
        #expect(request.npuMiB == (need + (1 << 20) - 1) / (1 << 20) + 256)
        let old = try BModel(contentsOf: BModelFixture.path("old-chip.bmodel"))
        #expect(throws: BModelError.self) { try LayoutChoice.modelFile(path: "old.bmodel", model: old).sizing(for: board) }
    }
}
