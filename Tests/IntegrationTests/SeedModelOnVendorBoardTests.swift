import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// Issue 11's points 1–3 together, through the command line as a user types them: an AirBox on the kernel of its
/// first images (`sim up --board airbox_v23`: bm1684x_airbox.dtb, its factory heaps) gets a ChatGLM2 bmodel laid out
/// as sophgo/ChatGLM2-TPU (2023) exports it (glm_block_N, a two-stage embedding, the 1.0 = masked fp32 mask) and
/// written as the vendor writers write bmodels of 4 GiB and more (the u32 binary_size wrapped, chip "BM1686"):
/// `push` sends it, `launch` serves it and `chat -p` answers what Tests/Reference/reference.py answers.
@Suite("a 2023 seed model over 4 GiB on a v23 AirBox", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct SeedModelOnVendorBoardTests {
    static let root = DeploymentStoryTests.root
    static let model = root.appendingPathComponent("build/sim-models/chatglm2-2023-sim")
    static let python = root.appendingPathComponent("build/venv/bin/python").path

    @Test func aChatGLM2TPUBModelOver4GiBIsPushedServedAndAnswersAsTheReference() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-seed-big-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let story = DeploymentStoryTests()
        let state = directory.appendingPathComponent("sim").path
        defer { _ = try? story.tpudeploy(["sim", "down", "--state-dir", state], in: directory) }

        // Made here, never committed: chatglm2-2023-sim's nets with their weights after a sparse 4 GiB hole.
        let big = directory.appendingPathComponent("chatglm2-2023-sim.bmodel").path
        _ = try SimulatedBoardHarness.run(Self.python, [
            Self.root.appendingPathComponent("Tests/Reference/make_big_sim_model.py").path, "--model", Self.model.path,
            "--hole-gib", "4", "--chip", "BM1686", "--output", big,
        ])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: big)[.size] as? UInt64)
        #expect(size > 4 << 30)

        let up = try story.tpudeploy(["sim", "up", "--state-dir", state, "--board", "airbox_v23", "--boot-delay", "0",
                                      "--data-partition-mib", "6144", "--json"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let boards = try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]]
        #expect(boards?.first?["dtb_name"] as? String == "bm1684x_airbox")

        let initialised = try story.tpudeploy(["init", "--deployment", "glm", "--profile", "chatglm2-2023-sim", "--bmodel", big,
                                               "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path], in: directory)
        try #require(initialised.status == 0, "\(initialised.stderr)")
        // The AirBox's factory NPU heap (7615 MiB) holds the model's 4609 MiB: no fix-memory needed.
        let pushed = try story.tpudeploy(["push", "--json"], in: directory)
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let push = try JSONSerialization.jsonObject(with: Data(pushed.stdout.utf8)) as? [String: Any]
        let sent = (push?["files"] as? [[String: Any]])?.first { $0["role"] as? String == "bmodel" }
        #expect((sent?["size_bytes"] as? NSNumber)?.uint64Value == size)
        #expect(sent?["action"] as? String == "uploaded")

        let launched = try story.tpudeploy(["launch", "--json"], in: directory)
        try #require(launched.status == 0, "\(launched.stderr)")
        let launch = try JSONSerialization.jsonObject(with: Data(launched.stdout.utf8)) as? [String: Any]
        #expect(launch?["family"] as? String == "chatglm2")
        #expect(launch?["layers"] as? Int == 2)

        let question = "The board boots."
        let chat = try story.tpudeploy(["chat", "-p", question, "--json"], in: directory)
        try #require(chat.status == 0, "\(chat.stderr)")
        let reply = (try JSONSerialization.jsonObject(with: Data(chat.stdout.utf8)) as? [String: Any])?["reply"] as? [String: Any]

        let rounds = directory.appendingPathComponent("rounds.json")
        try JSONSerialization.data(withJSONObject: [question]).write(to: rounds)
        let output = try SimulatedBoardHarness.run(Self.python, [
            Self.root.appendingPathComponent("Tests/Reference/reference.py").path, "chat", "--model-dir", Self.model.path,
            "--family", "chatglm2", "--rounds", rounds.path, "--max-tokens", "200",
        ])
        let reference = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let expected = try #require((reference?["rounds"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(!expected.isEmpty)
        #expect(reply?["text"] as? String == expected)
    }
}
