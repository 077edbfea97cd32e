import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// push on a board whose /boot holds a layout it has not rebooted into (`fix-memory --no-reboot`): the model must
/// load on both layouts, and the refusal names both.
@Suite("pending reboot on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct PendingRebootIntegrationTests {
    typealias Story = DeploymentStoryTests

    @Test func pushJudgesTheLiveLayoutAndTheOneBootHolds() throws {
        let story = Story()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-pending-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer {
            _ = try? story.tpudeploy(["sim", "down", "--state-dir", state], in: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        // llama2-sim with a neuron block that leaves it loading on the factory heaps (by spilling into VPP).
        let original = Story.model.appendingPathComponent("llama2-sim.bmodel")
        let need = ModelMemoryNeed(model: try BModel(contentsOf: original.path))
        let firstWeights = need.allocations.prefix { $0.purpose == .weights }.reduce(0) { $0 + $1.bytes }
        let model = directory.appendingPathComponent("llama2-sim.bmodel")
        try MemoryFitIntegrationTests.withNeuronBlock(MemoryFitIntegrationTests.factoryNPU - firstWeights, from: original, to: model)
        let tokenizer = Story.model.appendingPathComponent("tokenizer.model").path

        let inventory = directory.appendingPathComponent("boards.ini").path
        let up = try story.tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--inventory", inventory], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let push = ["push", "--dry-run", "--model", model.path, "--tokenizer", tokenizer, "--profile", "llama2-sim"]
        let before = try story.tpudeploy(push, in: directory)
        try #require(before.status == 0, "\(before.stderr)")

        // A smaller layout written without a reboot: the model loads now, not after the next boot.
        let shrunk = try story.tpudeploy(["fix-memory", "--npu", "2048", "--vpu", "1024", "--vpp", "1024", "--no-reboot", "--yes"], in: directory)
        try #require(shrunk.status == 0, "\(shrunk.stderr)")
        let refused = try story.tpudeploy(push, in: directory)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("llama2-sim loads on the live heaps, but /boot holds a layout the board has not rebooted into"), "\(refused.stderr)")
        #expect(refused.stderr.contains("Heaps: live NPU 3950 MiB, VPP 3072 MiB, VPU 2047 MiB; after the next reboot (/boot) NPU 2048 MiB, VPP 1024 MiB, VPU 1024 MiB"), "\(refused.stderr)")
        #expect(refused.stderr.contains("`tpudeploy fix-memory --npu 3950 --vpu 2047 --vpp 3072 --no-reboot`"), "\(refused.stderr)")
        // inspect --model judges a profile's need the same way: smollm2-135m's 5242 MiB load on the live heaps
        // (by spilling), not on the 4096 MiB /boot holds.
        let inspected = try story.tpudeploy(["inspect", "--model", "smollm2-135m"], in: directory)
        #expect(inspected.status == 0, "\(inspected.stderr)")
        #expect(inspected.stdout.contains("diagnosis: smollm2-135m loads on the live heaps, but not after the next reboot"), "\(inspected.stdout)")
        #expect(inspected.stdout.contains("live NPU 3950 MiB, VPP 3072 MiB, VPU 2047 MiB; after the next reboot (/boot) NPU 2048 MiB, VPP 1024 MiB, VPU 1024 MiB"), "\(inspected.stdout)")
        let inspectedJSON = try story.tpudeploy(["inspect", "--model", "smollm2-135m", "--json"], in: directory)
        #expect(inspectedJSON.stdout.contains("\"verdict\" : \"fits_until_reboot\"") || inspectedJSON.stdout.contains("\"verdict\":\"fits_until_reboot\""), "\(inspectedJSON.stdout)")
        // Given the file, inspect judges each allocation, as push does.
        let inspectedFile = try story.tpudeploy(["inspect", "--model", model.path], in: directory)
        #expect(inspectedFile.stdout.contains("diagnosis: \(model.path) loads on the live heaps, but not after the next reboot"), "\(inspectedFile.stdout) \(inspectedFile.stderr)")
        // fleet rollout judges the board the same way, even before it would push (here: its dry run).
        let config = directory.appendingPathComponent("tpudeploy.yaml")
        let deployment = "deployment:\n  name: pending\n  remote_dir: /data/tpudeploy/pending\n  bmodel: \(model.path)\n  tokenizer: \(tokenizer)\n  model: llama2-sim\n"
        try (try String(contentsOf: config, encoding: .utf8) + deployment).write(to: config, atomically: true, encoding: .utf8)
        let rollout = try story.tpudeploy(["fleet", "rollout", "--inventory", inventory, "--dry-run"], in: directory)
        #expect(rollout.status == 2, "\(rollout.stdout) \(rollout.stderr)")
        #expect((rollout.stdout + rollout.stderr).contains("loads on the live heaps, but /boot holds a layout the board has not rebooted into"),
                "\(rollout.stdout) \(rollout.stderr)")
        let forced = try story.tpudeploy(push + ["--allow-pending-reboot", "--json"], in: directory)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("loads now but not after the next reboot"), "\(forced.stdout)")

        // After the reboot the live heaps are the small ones: the usual refusal, with the fix-memory command.
        let rebooted = try story.tpudeploy(["fix-memory", "--npu", "2048", "--vpu", "1024", "--vpp", "1024", "--yes"], in: directory)
        try #require(rebooted.status == 0, "\(rebooted.stderr)")
        // And the other way round: the factory layout back in /boot, not rebooted into: reboot, then push.
        let restored = try story.tpudeploy(["fix-memory", "--npu", "3950", "--vpu", "2047", "--vpp", "3072", "--no-reboot", "--yes"], in: directory)
        try #require(restored.status == 0, "\(restored.stderr)")
        let later = try story.tpudeploy(push, in: directory)
        #expect(later.status == 1)
        #expect(later.stderr.contains("cannot load on the live heaps (it needs"), "\(later.stderr)")
        #expect(later.stderr.contains("but /boot already holds a layout that holds it"), "\(later.stderr)")
        #expect(later.stderr.contains("First reboot the board"), "\(later.stderr)")
    }
}
