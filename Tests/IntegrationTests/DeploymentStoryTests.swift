import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// The whole seed story through the command line, as `make demo` runs it: on a fresh simulated EVB with the
/// factory layout, a push of a model that needs more NPU memory than the factory heap is refused with the
/// fix-memory command; fix-memory; push; launch; `chat -p` gives the reference reply. Then the service's
/// resilience: a killed engine is restarted, a rebooted board serves again, stop stops it. Last, weights
/// damaged on the board: the engine loads them, `verify` fails on its "⁇" answer, and `push` sends the changed
/// file again (the manifest's record of it no longer describes it).
@Suite("deployment story", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct DeploymentStoryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path
    static let model = root.appendingPathComponent("build/sim-models/llama2-sim")

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// tpudeploy in `directory`, no terminal on stdin (as CI and scripts run it).
    func tpudeploy(_ arguments: [String], in directory: URL) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["TPUDEPLOY_PROFILES"] = Self.root.appendingPathComponent("Profiles").path
        environment["TPUDEPLOY_PAYLOADS"] = Self.root.appendingPathComponent("Payloads").path
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // stderr is drained on a thread of its own, not a Task: these tests run synchronously on Swift's
        // cooperative pool (as wide as the machine has cores), and two of them blocked there while waiting for a
        // Task to read stderr left no thread to run it (a deadlock seen on 2 cores).
        let errors = DataBox()
        let drained = DispatchSemaphore(value: 0)
        Thread {
            errors.data = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        drained.wait()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: errors.data, as: UTF8.self))
    }

    private final class DataBox: @unchecked Sendable { var data = Data() }

    /// The reference's greedy answer to one user message (Tests/Reference/reference.py).
    func referenceReply(_ question: String, in directory: URL) throws -> String {
        let rounds = directory.appendingPathComponent("rounds.json")
        try JSONSerialization.data(withJSONObject: [question]).write(to: rounds)
        let output = try SimulatedBoardHarness.run(
            Self.root.appendingPathComponent("build/venv/bin/python").path,
            [Self.root.appendingPathComponent("Tests/Reference/reference.py").path, "chat", "--model-dir", Self.model.path,
             "--family", "llama2", "--rounds", rounds.path, "--max-tokens", "200"])
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let first = (object?["rounds"] as? [[String: Any]])?.first
        return try #require(first?["text"] as? String)
    }

    /// Polls `status` until the engine is ready (it exits 0 then), up to `seconds`.
    func waitUntilReady(in directory: URL, seconds: Double) throws -> Outcome {
        let deadline = Date().addingTimeInterval(seconds)
        var last = Outcome(status: -1, stdout: "", stderr: "")
        while Date() < deadline {
            last = try tpudeploy(["status", "--json"], in: directory)
            if last.status == 0 { return last }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return last
    }

    /// What Tests/Tools/terminal_session.py saw of a command run in a pseudo-terminal.
    struct TerminalSession: Decodable {
        var ok: Bool
        var failed_step: Int?
        var exit_status: Int?
        var output: String
        /// The output with the terminal's CR LF line ends made LF.
        var text: String { output.replacingOccurrences(of: "\r\n", with: "\n") }
    }

    /// Runs `command` in a new pseudo-terminal in `directory`, typing and waiting as `steps` say.
    func terminalSession(_ steps: [[String: Any]], command: [String], in directory: URL) throws -> TerminalSession {
        let script = directory.appendingPathComponent("terminal-steps.json")
        try JSONSerialization.data(withJSONObject: steps).write(to: script)
        var environment = ["TPUDEPLOY_PROFILES": Self.root.appendingPathComponent("Profiles").path,
                           "TPUDEPLOY_PAYLOADS": Self.root.appendingPathComponent("Payloads").path]
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        environment["HOME"] = ProcessInfo.processInfo.environment["HOME"]
        let output = try SimulatedBoardHarness.run(
            "/usr/bin/python3", [Self.root.appendingPathComponent("Tests/Tools/terminal_session.py").path, script.path, "--"] + command,
            directory: directory, environment: environment)
        return try JSONDecoder().decode(TerminalSession.self, from: Data(output.utf8))
    }

    /// Interactive `chat` as a person uses it, against an engine slowed to 60 ms a piece so an answer can be
    /// interrupted: the answer streams; Ctrl-C stops it, not the program; Ctrl-C at the prompt says how to leave;
    /// /clear forgets the conversation (the same question is then answered as the reference answers a fresh
    /// one, though the stopped answer was in the history); /exit leaves with status 0.
    func interactiveChatAtATerminal(board: SimulatedBoard, expected: String, question: String, in directory: URL) throws {
        // The supervisor restarted by hand, with the command line rc.local starts it with at boot.
        _ = try SimulatedBoardHarness.openSSH(board, """
            /usr/local/sbin/tpu-llm-supervise stop llama2-sim && line=$(grep -F '# tpudeploy:llama2-sim' /etc/rc.local) \
              && eval "export TPU_ENGINE_PIECE_DELAY_MS=60; ${line%% >/dev/null*}"
            """)
        let slowed = try waitUntilReady(in: directory, seconds: 180)
        try #require(slowed.status == 0, "\(slowed.stdout) \(slowed.stderr)")
        let firstPiece = NSRegularExpression.escapedPattern(for: String(expected.prefix(1)))
        let steps: [[String: Any]] = [
            ["expect": "Connected\\."], ["expect": "> "],
            ["send": question + "\n"], ["expect": NSRegularExpression.escapedPattern(for: question) + "\r\n" + firstPiece],
            ["interrupt": true], ["expect": "\\(stopped\\)\r\n> "],
            ["interrupt": true], ["expect": "Ctrl-D or /exit leaves"],
            ["send": "/clear\n"], ["expect": "\\(conversation cleared\\)\r\n> "],
            ["send": question + "\n"], ["expect": "\r\n> ", "timeout": 60],
            ["send": "/exit\n"],
        ]
        let session = try terminalSession(steps, command: [Self.executable, "chat"], in: directory)
        #expect(session.ok, "step \(session.failed_step.map(String.init) ?? "-") failed; exit \(session.exit_status.map(String.init) ?? "none"):\n\(session.output)")
        #expect(session.exit_status == 0)
        let text = session.text
        let asked = text.components(separatedBy: question + "\n")
        try #require(asked.count == 3, "\(text)")
        // The terminal echoes the Ctrl-C as ^C, after what had streamed.
        let stopped = try #require(asked[1].components(separatedBy: "^C\n(stopped)").first)
        #expect(!stopped.isEmpty && stopped.count < expected.count && expected.hasPrefix(stopped), "stopped answer: \(stopped)")
        #expect(asked[1].contains("(Ctrl-D or /exit leaves)"))
        #expect(asked[1].contains("(conversation cleared)"))
        #expect(asked[2].components(separatedBy: "\n> ").first == expected)
    }

    @Test func refusedThenFixedThenPushedLaunchedAndChatting() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-story-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer { _ = try? tpudeploy(["sim", "down", "--state-dir", state], in: directory) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        // The deployment joins the project file `sim up` wrote: from now on no command needs flags.
        let initialised = try tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                         "--bmodel", Self.model.appendingPathComponent("llama2-sim.bmodel").path,
                                         "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path], in: directory)
        try #require(initialised.status == 0, "\(initialised.stderr)")

        // Its one 4608 MiB neuron block fits none of the factory heaps (NPU 3950, VPP 3072, VPU 2047 MiB), so the
        // runtime could not load it even by spilling: nothing is sent, the fix is named.
        let refused = try tpudeploy(["push"], in: directory)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim"), "\(refused.stderr)")

        let fixed = try tpudeploy(["fix-memory", "--board", "1684x_evb", "--for-model", "llama2-sim", "--yes"], in: directory)
        try #require(fixed.status == 0, "\(fixed.stderr)")

        let pushed = try tpudeploy(["push", "--json"], in: directory)
        try #require(pushed.status == 0, "\(pushed.stderr)")

        let launched = try tpudeploy(["launch", "--json"], in: directory)
        try #require(launched.status == 0, "\(launched.stderr)")
        let launch = try JSONSerialization.jsonObject(with: Data(launched.stdout.utf8)) as? [String: Any]
        #expect(launch?["family"] as? String == "llama2")
        #expect(launch?["layers"] as? Int == 4)

        let question = "Hello there"
        let chat = try tpudeploy(["chat", "-p", question, "--json"], in: directory)
        try #require(chat.status == 0, "\(chat.stderr)")
        let reply = (try JSONSerialization.jsonObject(with: Data(chat.stdout.utf8)) as? [String: Any])?["reply"] as? [String: Any]
        let expected = try referenceReply(question, in: directory)
        #expect(!expected.isEmpty)
        #expect(reply?["text"] as? String == expected)

        let verified = try tpudeploy(["verify", "--json"], in: directory)
        #expect(verified.status == 0, "\(verified.stderr)")
        let verify = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any]
        // The simulated runtime reports what it holds: the model's declared 4.5 GiB and more.
        #expect((verify?["npu_memory_used_bytes"] as? Int ?? 0) >= 4608 << 20)

        // `forward` puts the board's API on a local port for any client.
        let forward = Process()
        forward.executableURL = URL(fileURLWithPath: Self.executable)
        forward.arguments = ["forward", "--port", "0", "--json"]
        forward.currentDirectoryURL = directory
        let forwardOutput = Pipe()
        forward.standardOutput = forwardOutput
        forward.standardError = FileHandle.nullDevice
        forward.standardInput = FileHandle.nullDevice
        try forward.run()
        var line = Data()
        while !line.contains(10) {
            let byte = forwardOutput.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            line.append(byte)
        }
        let local = (try? JSONSerialization.jsonObject(with: line) as? [String: Any])?["local"] as? String
        let localPort = try #require(local.flatMap { Int($0.split(separator: ":").last ?? "") }, "forward printed: \(String(decoding: line, as: UTF8.self))")
        let models = try HTTPConnection.exchange(port: localPort, method: "GET", path: "/v1/models", timeout: 10)
        forward.terminate()
        forward.waitUntilExit()
        #expect(models.head.status == 200)
        #expect(String(decoding: models.body, as: UTF8.self).contains("\"llama2-sim\""))

        // A killed engine is restarted by its supervisor.
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        let board = try simulator.board(named: try #require(try simulator.list().first).board.name)
        _ = try SimulatedBoardHarness.openSSH(board, "kill -9 $(cat /run/tpudeploy/llama2-sim/engine.pid)")
        Thread.sleep(forTimeInterval: 1)
        let restarted = try waitUntilReady(in: directory, seconds: 180)
        #expect(restarted.status == 0, "\(restarted.stdout) \(restarted.stderr)")
        #expect(restarted.stdout.contains("\"restarts\" : 1") || restarted.stdout.contains("\"restarts\":1"), "\(restarted.stdout)")

        // A rebooted board starts the service again.
        let rebooted = try tpudeploy(["sim", "reboot", board.name, "--state-dir", state], in: directory)
        #expect(rebooted.status == 0, "\(rebooted.stderr)")
        let back = try waitUntilReady(in: directory, seconds: 180)
        #expect(back.status == 0, "\(back.stdout) \(back.stderr)")
        let again = try tpudeploy(["chat", "-p", question, "--json"], in: directory)
        #expect(((try? JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])?["reply"] as? [String: Any])?["text"] as? String == expected)

        try interactiveChatAtATerminal(board: board, expected: expected, question: question, in: directory)

        // stop stops it and keeps it from starting at boot.
        let stopped = try tpudeploy(["stop"], in: directory)
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let status = try tpudeploy(["status"], in: directory)
        #expect(status.status == 1)
        #expect(status.stdout.contains("stopped"))

        try damagedOnTheBoard(board, in: directory)
    }

    /// lm_head's weights zeroed in the board's copy, same size: every logit is 0, so greedy decoding picks id 0,
    /// `<unk>`, which the tokenizer prints as " ⁇ ". The runtime loads such a file (it checks no check_code).
    func damagedOnTheBoard(_ board: SimulatedBoard, in directory: URL) throws {
        let model = try BModel(contentsOf: Self.model.appendingPathComponent("llama2-sim.bmodel").path)
        let head = try #require(model.nets.first { $0.name == "lm_head" }?.stages.first)
        let start = try #require(head.coefficientStart)
        _ = try SimulatedBoardHarness.openSSH(board, """
            dd if=/dev/zero of=/data/tpudeploy/llama2-sim/llama2-sim.bmodel bs=1 seek=\(model.blobOffset + start) \
              count=\(head.coefficientBytes) conv=notrunc status=none
            """)
        let launched = try tpudeploy(["launch"], in: directory)
        try #require(launched.status == 0, "\(launched.stderr)")
        let verified = try tpudeploy(["verify", "--json"], in: directory)
        #expect(verified.status == 1)
        let verify = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any]
        #expect(verify?["ok"] as? Bool == false)
        #expect((verify?["problem"] as? String ?? "").contains("⁇"), "\(verified.stdout)")

        let repaired = try tpudeploy(["push", "--json"], in: directory)
        #expect(repaired.status == 0, "\(repaired.stderr)")
        let files = (try JSONSerialization.jsonObject(with: Data(repaired.stdout.utf8)) as? [String: Any])?["files"] as? [[String: Any]] ?? []
        let sent = files.filter { $0["action"] as? String != "skipped" }.compactMap { $0["name"] as? String }
        #expect(sent == ["llama2-sim.bmodel"], "\(repaired.stdout)")
        // launch restarts the engine on the files now in place.
        let relaunched = try tpudeploy(["launch"], in: directory)
        try #require(relaunched.status == 0, "\(relaunched.stderr)")
        let again = try tpudeploy(["verify"], in: directory)
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
    }
}
