import Foundation
import Testing
import TPUDeploySimulator

/// The simulated bm-smi behaves as the SoC build of Sophgo's tool: a curses screen that a person ends with a key
/// (with no terminal, nothing ends it: SimulatorTests checks that), found on a login shell's PATH only.
@Suite("simulated bm-smi at a terminal", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct SimulatedBMSMITests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private struct TerminalSession: Decodable {
        var ok: Bool
        var failed_step: Int?
        var exit_status: Int?
        var output: String
    }

    @Test func aLoginShellFindsItAndAKeyEndsItsScreen() throws {
        let harness = try SimulatedBoardHarness()
        defer { try? harness.tearDown() }
        var options = SimulatorOptions()
        options.bootDelay = 0
        options.kernelKiB = 1024
        options.ramdiskKiB = 512
        options.libsophonVersion = "0.5.1"
        let board = try #require(try harness.simulator.up(options).first)

        // A person logs in (ssh -t gives a terminal and a login shell) and types bm-smi, then q.
        let steps: [[String: Any]] = [
            ["expect": "\\$ |# ", "timeout": 20], ["send": "bm-smi\n"],
            ["expect": "Lib Version:    0\\.5\\.1", "timeout": 20], ["expect": "Memory-Usage", "timeout": 20],
            ["send": "q"], ["expect": "\\$ |# ", "timeout": 20], ["send": "exit\n"], ["exit_timeout": 20],
        ]
        let script = harness.stateDirectory.appendingPathComponent("bm-smi-steps.json")
        try JSONSerialization.data(withJSONObject: steps).write(to: script)
        let ssh = ["/usr/bin/ssh", "-tt", "-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)",
                   "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "-p", String(board.port),
                   "root@\(board.host)"]
        let output = try SimulatedBoardHarness.run(
            "/usr/bin/python3", [Self.root.appendingPathComponent("Tests/Tools/terminal_session.py").path, script.path, "--"] + ssh,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                          "HOME": ProcessInfo.processInfo.environment["HOME"] ?? "/root"])
        let session = try JSONDecoder().decode(TerminalSession.self, from: Data(output.utf8))
        #expect(session.ok, "step \(session.failed_step.map(String.init) ?? "-"): \(session.output.suffix(600))")
        #expect(session.exit_status == 0)
        // The alternate screen is left again when it ends, as ncurses' endwin() does.
        #expect(session.output.contains("\u{1B}[?1049h") && session.output.contains("\u{1B}[?1049l"))
    }
}
