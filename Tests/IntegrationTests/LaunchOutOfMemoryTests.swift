import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// `launch` of a model the live heaps cannot hold, through the command line: the runtime's own out-of-memory words
/// (libbmlib's and libbmrt's, printed on the board's stdout as the real libraries print them) reach the user with
/// the fix-memory command. The model is pushed onto a layout that /boot holds but the board has not rebooted into
/// (`fix-memory --no-reboot`, `push --allow-pending-reboot`), the one way a user gets a model that does not fit
/// past push's pre-flight.
@Suite("launch: the runtime's out-of-memory words", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct LaunchOutOfMemoryTests {
    typealias Story = DeploymentStoryTests

    @Test func aModelTheLiveHeapsCannotHoldFailsWithTheRuntimesWordsAndTheFix() throws {
        let story = Story()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-launch-oom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer {
            _ = try? story.tpudeploy(["sim", "down", "--state-dir", state], in: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        let up = try story.tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let initialised = try story.tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                               "--bmodel", Story.model.appendingPathComponent("llama2-sim.bmodel").path,
                                               "--tokenizer", Story.model.appendingPathComponent("tokenizer.model").path], in: directory)
        try #require(initialised.status == 0, "\(initialised.stderr)")

        // A layout that holds llama2-sim, written to /boot but not booted: the live heaps are still the factory's.
        let fixed = try story.tpudeploy(["fix-memory", "--for-model", "llama2-sim", "--yes", "--no-reboot"], in: directory)
        try #require(fixed.status == 0, "\(fixed.stderr)")
        let pushed = try story.tpudeploy(["push", "--allow-pending-reboot", "--json"], in: directory)
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let warnings = (try JSONSerialization.jsonObject(with: Data(pushed.stdout.utf8)) as? [String: Any])?["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("cannot load on the live heaps but will after the next reboot") }, "\(warnings)")

        // Launched before the reboot: the 4608 MiB neuron block finds no heap. libbmlib and libbmrt say so on
        // stdout; the engine's /health reason carries their words; launch shows them and the fix.
        let launched = try story.tpudeploy(["launch", "--timeout", "120"], in: directory)
        #expect(launched.status != 0)
        #expect(launched.stderr.contains("the engine could not load the model"), "\(launched.stderr)")
        #expect(launched.stderr.contains("bm_alloc_gmem failed, dev_id = 0, size = 0x20000000"), "\(launched.stderr)")
        #expect(launched.stderr.contains("device mem alloc failed: size=4831838208"), "\(launched.stderr)")
        #expect(launched.stderr.contains("The device heaps are too small for it (the runtime allocates from the NPU heap, then VPP and VPU): run `tpudeploy fix-memory"), "\(launched.stderr)")

        let json = try story.tpudeploy(["launch", "--timeout", "120", "--json"], in: directory)
        #expect(json.status != 0)
        let error = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [String: Any]
        #expect((error?["error"] as? String)?.contains("bm_alloc_gmem failed") == true, "\(json.stdout) \(json.stderr)")
        #expect(error?["code"] as? String == "engine_load_failed", "\(json.stdout)")
    }
}
