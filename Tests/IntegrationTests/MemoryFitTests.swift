import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// push, launch and chat against the factory 16 GB EVB's heaps (NPU 3950, VPP 3072, VPU 2047 MiB), through the
/// command line: a model the runtime can only load by spilling into the VPP heap is pushed with a warning and
/// served; one whose single neuron block fits no heap is refused with the numbers.
@Suite("memory fit on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct MemoryFitIntegrationTests {
    typealias Story = DeploymentStoryTests
    static let mib: UInt64 = 1 << 20
    static let factoryNPU: UInt64 = 0xF6E0_0000

    /// llama2-sim with every `ctx_size` (and the model's `neuron_size`, 4608 MiB in the file) set to `neuron` bytes:
    /// the same nets and weights, a different neuron block.
    static func withNeuronBlock(_ neuron: UInt64, from source: URL, to destination: URL) throws {
        var bytes = [UInt8](try Data(contentsOf: source))
        let old = withUnsafeBytes(of: (UInt64(4608) << 20).littleEndian) { Array($0) }
        let new = withUnsafeBytes(of: neuron.littleEndian) { Array($0) }
        let flatBuffersEnd = 64 + Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        var replaced = 0, index = 64
        while index + 8 <= flatBuffersEnd {
            if Array(bytes[index..<index + 8]) == old {
                bytes.replaceSubrange(index..<index + 8, with: new)
                replaced += 1
                index += 8
            } else {
                index += 1
            }
        }
        guard replaced > 1 else { throw HarnessError.commandFailed("no ctx_size of 4608 MiB in \(source.path)") }
        try Data(bytes).write(to: destination)
    }

    @Test func aModelThatSpillsIsServedAndOneThatCannotLoadIsRefused() throws {
        let story = Story()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-memfit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer {
            _ = try? story.tpudeploy(["sim", "down", "--state-dir", state], in: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        let original = Story.model.appendingPathComponent("llama2-sim.bmodel")
        // The neuron block fills what the NPU heap has left after the first net's weights (bmrt allocates net by
        // net): every later allocation (the other weights, the engine's buffers, its KV cache) goes to VPP.
        let need = ModelMemoryNeed(model: try BModel(contentsOf: original.path))
        let firstWeights = need.allocations.prefix { $0.purpose == .weights }.reduce(0) { $0 + $1.bytes }
        let spilling = directory.appendingPathComponent("llama2-sim.bmodel")
        try Self.withNeuronBlock(Self.factoryNPU - firstWeights, from: original, to: spilling)
        let spillingNeed = ModelMemoryNeed(model: try BModel(contentsOf: spilling.path))
        let spilled = spillingNeed.totalBytes - Self.factoryNPU

        let up = try story.tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let initialised = try story.tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                               "--bmodel", spilling.path,
                                               "--tokenizer", Story.model.appendingPathComponent("tokenizer.model").path], in: directory)
        try #require(initialised.status == 0, "\(initialised.stderr)")

        // The file as built: its one 4608 MiB neuron block fits none of the heaps, though they hold 9070 MiB together.
        let refused = try story.tpudeploy(["push", "--model", original.path], in: directory)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("it needs 4610 MiB of device memory and the runtime can use 9069 MiB (NPU 3950 MiB, VPP 3072 MiB, VPU 2047 MiB); one allocation of 4608 MiB fits in none of the heaps (the largest is 3950 MiB)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim"), "\(refused.stderr)")

        // The spilling one: pushed with the warning, loaded, and it answers as the reference does.
        let pushed = try story.tpudeploy(["push", "--json"], in: directory)
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let warnings = (try JSONSerialization.jsonObject(with: Data(pushed.stdout.utf8)) as? [String: Any])?["warnings"] as? [String] ?? []
        let expectedWarning = "llama2-sim will load, but it needs \((spillingNeed.totalBytes + Self.mib - 1) / Self.mib) MiB, more than the NPU heap (3950 MiB): the runtime will put \((spilled + Self.mib - 1) / Self.mib) MiB in the VPP heap, which video decoding then cannot use; for a cleaner layout run `tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim`"
        #expect(warnings.contains(expectedWarning), "\(warnings)")

        let launched = try story.tpudeploy(["launch", "--json"], in: directory)
        try #require(launched.status == 0, "\(launched.stderr)")
        let question = "Hello there"
        let chat = try story.tpudeploy(["chat", "-p", question, "--json"], in: directory)
        try #require(chat.status == 0, "\(chat.stderr)")
        let reply = (try JSONSerialization.jsonObject(with: Data(chat.stdout.utf8)) as? [String: Any])?["reply"] as? [String: Any]
        #expect(reply?["text"] as? String == (try story.referenceReply(question, in: directory)))

        // On the board, the runtime put exactly that much in the VPP heap, and nothing in the VPU heap.
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        let board = try simulator.board(named: try #require(try simulator.list().first).board.name)
        let used = try SimulatedBoardHarness.openSSH(board, "cd /run/tpudeploy-sim/heap-used && cat npu vpp vpu")
            .split(separator: "\n").compactMap { UInt64($0) }
        #expect(used == [Self.factoryNPU, spilled, 0], "npu, vpp, vpu: \(used)")
        _ = try story.tpudeploy(["stop"], in: directory)
    }
}
