import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// tpudeploy logs in to a board once per boot and does everything on that one SSH session: the engine's HTTP
/// API (launch's health wait, verify, status, chat, a rollout's "already serving?" check) rides a direct-tcpip
/// channel on it instead of a port forward with a login of its own. Counted on the board itself: its sshd logs
/// every login it accepts.
@Suite("one SSH session per board", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct OneSSHSessionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("build/sim-models/llama2-sim")

    /// The logins the board's sshd has accepted since it was created (its log is kept across reboots). sshd
    /// ends its log lines with CRLF there, one Character in Swift: split on any newline.
    static func logins(_ board: SimulatedBoard) -> Int {
        let log = (try? String(contentsOfFile: board.stateDirectory + "/sshd.log", encoding: .utf8)) ?? ""
        return log.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("Accepted ") }.count
    }

    @Test func aRolloutAndTheEngineCommandsLogInOncePerBoardAndBoot() throws {
        let fleet = try FleetTestDirectory(prefix: "tpd-onesession", repositoryRoot: Self.root)
        defer { fleet.removeWithItsBoards() }
        let state = fleet.state
        func tpudeploy(_ arguments: [String]) throws -> CommandRunOutcome { try fleet.tpudeploy(arguments) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--boards", "2", "--inventory", "boards.ini"])
        try #require(up.status == 0, "\(up.stderr)")
        let initialised = try tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                         "--bmodel", Self.model.appendingPathComponent("llama2-sim.bmodel").path,
                                         "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path])
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        let boards = try ["evb1", "evb2"].map { try simulator.layout.record($0).board }
        func loginsSince(_ before: [Int]) -> [Int] { zip(boards, before).map { Self.logins($0) - $1 } }
        /// The boards' sshd logs, for a failure's message.
        func logs() -> String {
            boards.map { "\($0.name): " + ((try? String(contentsOfFile: $0.stateDirectory + "/sshd.log", encoding: .utf8)) ?? "unreadable") }.joined(separator: "\n")
        }

        // The rollout: llama2-sim's 4608 MiB block fits no factory heap, so each board gets a layout and reboots,
        // then is pushed, launched and verified. One login before the reboot, one after it, none for the engine.
        var before = boards.map(Self.logins)
        let rollout = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--json"])
        #expect(rollout.status == 0, "\(rollout.stderr)")
        let lines = try rollout.jsonLines()
        #expect(lines.last?["outcome"] as? String == "ok", "\(rollout.stdout)")
        for name in ["evb1", "evb2"] {
            let phases = Set(lines.filter { $0["board"] as? String == name }.compactMap { $0["phase"] as? String })
            #expect(phases.isSuperset(of: ["reboot", "launch", "verify"]), "\(name): \(phases)")
        }
        #expect(loginsSince(before) == [2, 2], "logins per board during the rollout\n\(logs())")

        // Again: every board is at the target, found so (engine health included) on one login each.
        before = boards.map(Self.logins)
        let again = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect((try again.jsonLines().last?["boards"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["skipped", "skipped"])
        #expect(loginsSince(before) == [1, 1], "logins per board when everything is at the target")

        // The single-board engine commands: one login each, the health wait, the conversation and the metrics included.
        let board = boards[0]
        let connection = ["--host", board.host, "--user", "root", "--identity", board.identityFile, "--known-hosts", board.knownHostsFile]
        for command in [["launch", "--timeout", "120"], ["verify", "--max-tokens", "8"], ["status"], ["chat", "-p", "Hello", "--max-tokens", "4"]] {
            before = boards.map(Self.logins)
            let run = try tpudeploy(command + connection)
            #expect(run.status == 0, "\(command[0]): \(run.stderr)")
            #expect(loginsSince(before) == [1, 0], "logins for \(command[0])")
        }

        // Nothing listens on the port asked for: the same clear error as before, on that one login.
        before = boards.map(Self.logins)
        let nobody = try tpudeploy(["verify", "--engine-port", "8999"] + connection)
        #expect(nobody.status != 0)
        #expect(nobody.stderr.contains("nothing answers on 127.0.0.1:8999 on root@\(board.host)"), "\(nobody.stderr)")
        #expect(loginsSince(before) == [1, 0])
    }
}
