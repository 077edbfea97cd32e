import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// `fleet rollout` with relaying on simulated boards: the boards of a batch get the payload through the relay
/// chain, so this host sends it about once, and each board's push then finds its files and sends nothing.
@Suite("fleet rollout relaying between simulated boards", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FleetRelayRolloutTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    // The small chatglm2-sim model: its payload is mostly the engine build, which is what gets relayed.
    static let model = root.appendingPathComponent("build/sim-models/chatglm2-sim")

    @Test func threeBoardsAreRolledOutWhileTheHostSendsThePayloadAboutOnce() throws {
        let fleet = try FleetTestDirectory(prefix: "tpd-relay", repositoryRoot: Self.root)
        defer { fleet.removeWithItsBoards() }
        let directory = fleet.directory, state = fleet.state
        func tpudeploy(_ arguments: [String]) throws -> CommandRunOutcome { try fleet.tpudeploy(arguments) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--boards", "3", "--inventory", "boards.ini"])
        try #require(up.status == 0, "\(up.stderr)")
        let initialised = try tpudeploy(["init", "--deployment", "chatglm2-sim", "--profile", "chatglm2-sim",
                                         "--bmodel", Self.model.appendingPathComponent("chatglm2-sim.bmodel").path,
                                         "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path])
        try #require(initialised.status == 0, "\(initialised.stderr)")

        // --dry-run: each board lacks the whole payload; with relaying, this host would send it once (one batch).
        let dry = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let plan = try #require(try dry.jsonLines().last)
        let payloadBytes = try #require((plan["boards"] as? [[String: Any]])?.first?["bytes_to_send"] as? Int)
        #expect(payloadBytes > 1 << 20)
        #expect(plan["relay"] as? Bool == true)
        #expect(plan["bytes_to_send"] as? Int == payloadBytes * 3)
        #expect(plan["host_bytes_to_send"] as? Int == payloadBytes)
        let direct = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--dry-run", "--no-relay", "--json"])
        #expect(try direct.jsonLines().last?["host_bytes_to_send"] as? Int == payloadBytes * 3)

        // --no-relay, as push: this host sends every board the payload. Each board gets its layout and reboots.
        let pushed = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--no-relay", "--json"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let pushedLines = try pushed.jsonLines()
        #expect(pushedLines.last?["host_bytes_sent"] as? Int == payloadBytes * 3)
        #expect(pushedLines.last?["relay_host_bytes_sent"] == nil)
        #expect(!pushedLines.contains { $0["phase"] as? String == "distribute" })

        // The boards lose the deployment's files (their engine stopped first, so that no engine runs on deleted
        // files): the next rollout sends them again and launches, nothing else.
        for name in ["evb1", "evb2", "evb3"] {
            let host = try Simulator(stateDirectory: URL(fileURLWithPath: state)).layout.record(name).board.host
            let stopped = try tpudeploy(["stop", "--host", host, "--user", "root", "--identity", directory.appendingPathComponent("sim/client/id_ed25519").path,
                                         "--known-hosts", directory.appendingPathComponent("sim/known_hosts").path])
            try #require(stopped.status == 0, "\(stopped.stderr)")
            _ = try SimulatedBoardHarness.run("/usr/bin/ssh", [
                "-i", directory.appendingPathComponent("sim/client/id_ed25519").path, "-o", "UserKnownHostsFile=\(directory.appendingPathComponent("sim/known_hosts").path)",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(host)", "rm -rf /data/tpudeploy/chatglm2-sim"])
        }

        // The rollout: the canary, then a batch of two, relayed. The canary, once it serves, heads the second batch's
        // relay, so the host sends the payload once for the run, not once a batch. What this host puts on the
        // simulator's bridge (what boards send each other crosses between its ports and is not counted) is one copy
        // of the payload, the relay agents (copied once to each board), SSH's framing and the commands: well under
        // two copies of the payload.
        let bridge = try Simulator(stateDirectory: URL(fileURLWithPath: state)).layout.record("evb1").network.bridge
        func hostBytesOnTheBridge() throws -> Int {
            Int(try String(contentsOfFile: "/sys/class/net/\(bridge)/statistics/tx_bytes", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let agent = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpu-relay-agent").path
        let agentBytes = try FileManager.default.attributesOfItem(atPath: agent)[.size] as? Int ?? 0
        let before = try hostBytesOnTheBridge()
        let rollout = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--yes", "--json"])
        let onTheBridge = try hostBytesOnTheBridge() - before
        #expect(rollout.status == 0, "\(rollout.stderr)")
        let lines = try rollout.jsonLines()
        let summary = try #require(lines.last)
        #expect(summary["outcome"] as? String == "ok")
        let boards = try #require(summary["boards"] as? [[String: Any]])
        #expect(boards.map { $0["outcome"] as? String } == ["ok", "ok", "ok"], "\(boards)")
        #expect(summary["relay_host_bytes_sent"] as? Int == payloadBytes)
        #expect(summary["host_bytes_sent"] as? Int == payloadBytes, "the pushes sent bytes of their own")
        #expect(onTheBridge - 3 * agentBytes < payloadBytes * 3 / 2, "the host sent \(onTheBridge) bytes (\(3 * agentBytes) of them agents) for \(payloadBytes) bytes of payload")
        for name in ["evb1", "evb2", "evb3"] {
            let events = lines.dropLast().filter { $0["board"] as? String == name }
            let phases = events.filter { $0["status"] as? String != "progress" }.map { "\($0["phase"]!)/\($0["status"]!)" }
            #expect(phases.contains("distribute/done") && phases.contains("verify/done") && phases.last == "done/ok", "\(name): \(phases)")
            #expect(phases.firstIndex(of: "distribute/done")! < phases.firstIndex(of: "push/started")!, "\(name)")
            // The push found every file in place.
            let pushed = events.first { $0["phase"] as? String == "push" && $0["status"] as? String == "done" }?["detail"] as? String
            #expect(pushed?.hasPrefix("sent 0 of") == true, "\(name): \(pushed ?? "no push")")
            #expect(events.contains { $0["phase"] as? String == "distribute" && $0["status"] as? String == "progress" && $0["bytes_done"] != nil })
        }
        // Down the chain: the second batch's first board got its files from the canary, the last one from the board
        // before it, neither from this host.
        func relayed(_ name: String) -> String {
            lines.first { $0["board"] as? String == name && $0["phase"] as? String == "distribute" && $0["status"] as? String == "done" }?["detail"] as? String ?? "none"
        }
        #expect(relayed("evb2").contains("from evb1") && relayed("evb2").contains("0 B from this host"), "\(relayed("evb2"))")
        #expect(relayed("evb3").contains("from evb2"), "\(relayed("evb3"))")
    }
}
