import Foundation
import Testing
import TPUDeployKit

private typealias Outcome = CommandRunOutcome

private func tpudeploy(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Outcome {
    try runTPUDeploy(arguments, in: directory, environment: environment)
}

private func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-cli-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

@Suite("the tpudeploy command line")
struct CommandLineTests {
    @Test func withoutATargetItSaysHowToNameOne() throws {
        let outcome = try tpudeploy(["inspect"], in: try temporaryDirectory())
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("no board named"))
        #expect(outcome.stderr.contains("tpudeploy init --host"))
        #expect(outcome.stderr.split(separator: "\n").count == 1)
    }

    @Test func anUnknownModelListsTheKnownOnes() throws {
        let outcome = try tpudeploy(["inspect", "--host", "127.0.0.1", "--model", "gpt-9", "--json"], in: try temporaryDirectory())
        #expect(outcome.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: String]
        #expect(object?["error"]?.contains("chatglm2-6b") == true)
        #expect(object?["code"] == "unknown_model_profile")
    }

    @Test func initWritesAProjectFileThatInspectReads() throws {
        let directory = try temporaryDirectory()
        let written = try tpudeploy(["init", "--host", "127.0.0.1", "--port", "1", "--user", "linaro", "--board", "1684x_evb"], in: directory)
        #expect(written.status == 0)
        let again = try tpudeploy(["init", "--host", "127.0.0.1"], in: directory)
        #expect(again.status == 1)
        #expect(again.stderr.contains("--force"))
        // Port 1 on loopback refuses at once: the error names the target from the file.
        let outcome = try tpudeploy(["inspect", "--connect-timeout", "2"], in: directory)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("linaro@127.0.0.1:1"))
    }

    @Test func initRefusesADeploymentLaterCommandsWouldReject() throws {
        let directory = try temporaryDirectory()
        // A board address later commands refuse (empty, or not an address) is refused before anything is written.
        for (host, message) in [("", "the board's address from --host is empty"), ("a;b", "--host gives \"a;b\" as the board's address"),
                                ("a b", "which is not a host name")] {
            let refused = try tpudeploy(["init", "--host", host], in: directory)
            #expect(refused.status == 1, "\(host)")
            #expect(refused.stderr.contains(message), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("tpudeploy.yaml").path))
        }
        let relative = try tpudeploy(["init", "--host", "127.0.0.1", "--deployment", "chat", "--bmodel", "m.bmodel",
                                      "--tokenizer", "tokenizer.model", "--remote-dir", "data/chat"], in: directory)
        #expect(relative.status == 1)
        #expect(relative.stderr.contains("--remote-dir 'data/chat' cannot be the deployment's directory on the board: it must be an absolute path"))
        let missing = try tpudeploy(["init", "--host", "127.0.0.1", "--deployment", "chat", "--bmodel", "m.bmodel",
                                     "--tokenizer", "tokenizer.model"], in: directory)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("--bmodel m.bmodel: no such file"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("tpudeploy.yaml").path))
        for name in ["m.bmodel", "tokenizer.model"] {
            FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data([1]))
        }
        let written = try tpudeploy(["init", "--host", "127.0.0.1", "--deployment", "chat", "--bmodel", "m.bmodel",
                                     "--tokenizer", "tokenizer.model", "--remote-dir", "/data/chat"], in: directory)
        #expect(written.status == 0, "\(written.stderr)")
    }

    @Test(.enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
    func simUpThenInspectAsJSONThenSimDown() throws {
        let directory = try temporaryDirectory()
        let state = directory.appendingPathComponent("sim").path
        defer { _ = try? tpudeploy(["sim", "down", "--state-dir", state], in: directory) }
        let unknownRelease = try tpudeploy(["sim", "up", "--state-dir", state, "--libsophon", "9.9.9"], in: directory)
        #expect(unknownRelease.status != 0 && unknownRelease.stderr.contains("0.4.9, 0.5.0, 0.5.1"))
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--libsophon", "0.5.1", "--json"], in: directory)
        #expect(up.status == 0, "\(up.stderr)")
        let boards = try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]]
        let host = try #require(boards?.first?["host"] as? String)

        let outcome = try tpudeploy(["inspect", "--json", "--model", "chatglm2-6b"], in: directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let report = try JSONOutput.decoder().decode(BoardReport.self, from: Data(outcome.stdout.utf8))
        #expect(report.schema == "tpudeploy.inspect/2")
        #expect(report.versions.libsophon == "0.5.1" && report.llmRuntimeCheck.verdict == .met)
        #expect(report.target == "root@\(host)")
        #expect(report.heaps.first { $0.name == "npu" }?.liveBytes == 0xF6E0_0000)
        // 6453 MiB: more than the factory NPU heap, less than NPU + VPP + VPU: it loads by spilling into VPP.
        #expect(report.diagnosis?.verdict == .spills)

        // The linaro user needs a password; with no terminal it must come from the environment.
        let stranger = directory.appendingPathComponent("stranger").path
        try SimulatedBoardHarness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        let noPassword = try tpudeploy(["inspect", "--user", "linaro", "--identity", stranger], in: directory)
        #expect(noPassword.status == 1)
        #expect(noPassword.stderr.contains("wants a password for linaro"))
        #expect(noPassword.stderr.contains("TPUDEPLOY_PASSWORD"))
        let withPassword = try tpudeploy(["inspect", "--user", "linaro", "--json"], in: directory,
                                         environment: ["TPUDEPLOY_PASSWORD": "linaro"])
        #expect(withPassword.status == 0, "\(withPassword.stderr)")

        let list = try tpudeploy(["sim", "list", "--state-dir", state], in: directory)
        #expect(list.stdout.contains(host))
        let boardName = try #require(boards?.first?["name"] as? String)
        let rebooted = try tpudeploy(["sim", "reboot", boardName, "--state-dir", state], in: directory)
        #expect(rebooted.status == 0, "\(rebooted.stderr)")
        #expect(rebooted.stdout.contains("npu 3950 MiB"))
        let down = try tpudeploy(["sim", "down", "--state-dir", state], in: directory)
        #expect(down.status == 0)
    }

    @Test(.enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
    func fixMemoryFromTheCommandLine() throws {
        let directory = try temporaryDirectory()
        let state = directory.appendingPathComponent("sim").path
        defer { _ = try? tpudeploy(["sim", "down", "--state-dir", state], in: directory) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        #expect(up.status == 0, "\(up.stderr)")

        // No terminal and no --yes: refuse, say which flag, change nothing.
        let unconfirmed = try tpudeploy(["fix-memory", "--for-model", "chatglm2-6b"], in: directory)
        #expect(unconfirmed.status == 1)
        #expect(unconfirmed.stderr.contains("--yes"))

        let planned = try tpudeploy(["fix-memory", "--for-model", "chatglm2-6b", "--dry-run", "--json"], in: directory)
        #expect(planned.status == 0, "\(planned.stderr)")
        let plan = try JSONOutput.decoder().decode(MemoryFixResult.self, from: Data(planned.stdout.utf8))
        #expect(plan.status == .planned)
        #expect(plan.plan?.after.heap(.npu)?.size == (6453 + 256) << 20)

        let tooBig = try tpudeploy(["fix-memory", "--npu", "9000", "--vpu", "1024", "--vpp", "2048", "--yes"], in: directory)
        #expect(tooBig.status == 1)
        #expect(tooBig.stderr.contains("7615"))

        let applied = try tpudeploy(["fix-memory", "--for-model", "chatglm2-6b", "--yes", "--json"], in: directory)
        #expect(applied.status == 0, "\(applied.stderr)")
        let result = try JSONOutput.decoder().decode(MemoryFixResult.self, from: Data(applied.stdout.utf8))
        #expect(result.status == .applied)
        #expect(result.liveHeapsAfter?["npu"] == (6453 + 256) << 20)

        let inspected = try tpudeploy(["inspect", "--model", "chatglm2-6b", "--json"], in: directory)
        let report = try JSONOutput.decoder().decode(BoardReport.self, from: Data(inspected.stdout.utf8))
        #expect(report.diagnosis?.verdict == .fits)

        // --rollback --dry-run (even with --yes) says which backup it would put back and changes nothing.
        let previewed = try tpudeploy(["fix-memory", "--rollback", "--dry-run", "--yes", "--json"], in: directory)
        #expect(previewed.status == 0, "\(previewed.stderr)")
        let preview = try JSONOutput.decoder().decode(MemoryFixResult.self, from: Data(previewed.stdout.utf8))
        #expect(preview.status == .planned)
        #expect(preview.restoredBackup?.isEmpty == false)
        #expect(preview.liveHeapsAfter?["npu"] == 0xF6E0_0000)
        let unchanged = try tpudeploy(["inspect", "--model", "chatglm2-6b", "--json"], in: directory)
        #expect(try JSONOutput.decoder().decode(BoardReport.self, from: Data(unchanged.stdout.utf8)).heaps.first { $0.name == "npu" }?.configuredBytes == (6453 + 256) << 20)

        let rolledBack = try tpudeploy(["fix-memory", "--rollback", "--yes", "--json"], in: directory)
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        let restored = try JSONOutput.decoder().decode(MemoryFixResult.self, from: Data(rolledBack.stdout.utf8))
        #expect(restored.liveHeapsAfter?["npu"] == 0xF6E0_0000)
    }
}
