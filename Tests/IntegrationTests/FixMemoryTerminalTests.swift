import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path

/// What Tests/Tools/terminal_session.py saw of a command run in a pseudo-terminal.
private struct TerminalSession: Decodable {
    var failed_step: Int?
    var exit_status: Int?
    var signal: Int?
    var output: String
    var text: String { output.replacingOccurrences(of: "\r\n", with: "\n") }
}

/// Runs `tpudeploy ARGUMENTS` against `board` (as root, with the simulator's key) in a new pseudo-terminal,
/// typing and waiting as `steps` say.
private func terminalSession(_ steps: [[String: Any]], _ arguments: [String], board: SimulatedBoard) throws -> TerminalSession {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-tty-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let script = directory.appendingPathComponent("steps.json")
    try JSONSerialization.data(withJSONObject: steps).write(to: script)
    let target = ["--host", board.host, "--port", String(board.port), "--user", "root", "--identity", board.identityFile,
                  "--known-hosts", board.knownHostsFile, "--ssh-config", "none"]
    var environment = ["TPUDEPLOY_PROFILES": repositoryRoot.appendingPathComponent("Profiles").path]
    environment["PATH"] = ProcessInfo.processInfo.environment["PATH"]
    environment["HOME"] = ProcessInfo.processInfo.environment["HOME"]
    let output = try SimulatedBoardHarness.run(
        "/usr/bin/python3", [repositoryRoot.appendingPathComponent("Tests/Tools/terminal_session.py").path, script.path, "--", executable]
            + arguments + target,
        directory: directory, environment: environment)
    return try JSONDecoder().decode(TerminalSession.self, from: Data(output.utf8))
}

@Suite("fix-memory at a terminal, on a simulated board", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FixMemoryTerminalTests {
    /// Answering no at the prompt, and Ctrl-C during the upload, each end with one line saying what happened and
    /// that nothing changed on the board (status 1 and 130), and the board's boot image is the same.
    @Test func answeringNoOrCtrlCDuringTheUploadSaysNothingChanged() async throws {
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let factory = try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -d' ' -f1")

            let declined = try terminalSession([["expect": "and reboot it\\? \\[y/N\\] "], ["send": "n\n"]], ["fix-memory", "--preset", "llm"], board: board)
            #expect(declined.failed_step == nil, "\(declined.output)")
            #expect(declined.exit_status == 1)
            let said = declined.text.components(separatedBy: "[y/N] ").last ?? ""
            #expect(said.contains("tpudeploy: not confirmed: nothing was changed on root@\(board.host)"), "\(said)")
            #expect(said.split(separator: "\n").filter { $0.hasPrefix("tpudeploy:") }.count == 1, "\(said)")

            // A slow link (4 Mbit/s: the 1.6 MB image takes seconds each way) so that Ctrl-C lands during the upload.
            try harness.simulator.shapeLink(of: board.name, rateMbit: 4)
            let interrupted = try terminalSession(
                [["expect": "uploading the new boot image", "timeout": 60], ["interrupt": true]], ["fix-memory", "--preset", "llm", "--yes"], board: board)
            #expect(interrupted.failed_step == nil, "\(interrupted.output)")
            #expect(interrupted.exit_status == 130, "\(interrupted.output)")
            let after = interrupted.text.components(separatedBy: "uploading the new boot image").last ?? ""
            #expect(after.contains("tpudeploy: fix-memory interrupted: nothing was changed on root@\(board.host)"), "\(after)")
            #expect(after.contains("the board boots as before"))
            #expect(after.split(separator: "\n").filter { $0.hasPrefix("tpudeploy:") }.count == 1, "\(after)")
            try harness.simulator.shapeLink(of: board.name, rateMbit: nil)

            #expect(try SimulatedBoardHarness.openSSH(board, "sha256sum /boot/emmcboot.itb | cut -d' ' -f1") == factory)
            #expect(try SimulatedBoardHarness.openSSH(board, "ls /boot /data/tpudeploy/backups 2>/dev/null | grep -c tpudeploy-bak || true")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }
}
