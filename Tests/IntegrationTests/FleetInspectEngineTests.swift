import Foundation
import Testing
import TPUDeployKit

/// `fleet inspect` shows each board's deployed model and whether its engine serves, on simulated boards whose
/// tpudeploy.yaml has no `target.host` (a file for fleets: the boards come from the inventory).
@Suite("fleet inspect: the engine's state, a tpudeploy.yaml without a host", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FleetInspectEngineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("build/sim-models/llama2-sim")

    @Test func oneBoardServingOneNotWithAHostlessProjectFile() throws {
        let fleet = try FleetTestDirectory(prefix: "tpd-finspect", repositoryRoot: Self.root)
        defer { fleet.removeWithItsBoards() }
        let directory = fleet.directory, state = fleet.state
        func tpudeploy(_ arguments: [String]) throws -> CommandRunOutcome { try fleet.tpudeploy(arguments) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--boards", "2", "--inventory", "boards.ini", "--no-config", "--json"])
        try #require(up.status == 0, "\(up.stderr)")
        let started = try #require(try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]])
        let names = started.compactMap { $0["name"] as? String }
        let hosts = started.compactMap { $0["host"] as? String }
        try #require(names.count == 2)
        let identity = try #require(started.first?["identity_file"] as? String)
        let knownHosts = try #require(started.first?["known_hosts_file"] as? String)

        // A project file for fleets: logins and the deployment, no board.
        try """
            target:
              user: root
              identity: \(identity)
              known_hosts: \(knownHosts)

            """.write(to: directory.appendingPathComponent("tpudeploy.yaml"), atomically: true, encoding: .utf8)
        let initialised = try tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                         "--bmodel", Self.model.appendingPathComponent("llama2-sim.bmodel").path,
                                         "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path])
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let written = try String(contentsOf: directory.appendingPathComponent("tpudeploy.yaml"), encoding: .utf8)
        #expect(!written.contains("host:") && written.contains("identity:") && written.contains("llama2-sim"), "\(written)")

        // A single-board command says that it needs a host, and how to give one.
        let single = try tpudeploy(["inspect"])
        #expect(single.status == 1)
        #expect(single.stderr.contains("no target.host") && single.stderr.contains("--host ADDRESS"), "\(single.stderr)")
        let singleJSON = try tpudeploy(["status", "--json"])
        #expect(singleJSON.status == 1)
        #expect(singleJSON.stdout.contains("no target.host"), "\(singleJSON.stdout)")

        // Before anything is deployed: both boards hold nothing, no engine.
        let before = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--json"])
        #expect(before.status == 0, "\(before.stderr)")
        let beforeBoards = try #require(try before.jsonLines().last?["boards"] as? [[String: Any]])
        for board in beforeBoards {
            let deployed = (board["facts"] as? [String: Any])?["deployed"] as? [String: Any]
            #expect(deployed?["bmodel"] == nil)
            #expect((deployed?["engine"] as? [String: Any])?["state"] as? String == "stopped", "\(board)")
        }

        // The first board rolled out (the same host-less file and inventory): it serves.
        let rollout = try tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--limit", names[0], "--canary", "0", "--no-relay", "--json"])
        try #require(rollout.status == 0, "\(rollout.stdout)\n\(rollout.stderr)")

        let inspected = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--json"])
        #expect(inspected.status == 0, "\(inspected.stderr)")
        let lines = try inspected.jsonLines()
        let boards = try #require(lines.last?["boards"] as? [[String: Any]])
        #expect(boards.map { $0["name"] as? String } == names)
        let serving = try #require((boards[0]["facts"] as? [String: Any])?["deployed"] as? [String: Any])
        #expect(serving["bmodel"] as? String == "llama2-sim.bmodel")
        let engine = try #require(serving["engine"] as? [String: Any])
        #expect(engine["state"] as? String == "ready", "\(engine)")
        #expect(engine["started_before_files_changed"] as? Bool == false)
        #expect((engine["pid"] as? Int ?? 0) > 0)
        #expect((engine["health"] as? [String: Any])?["status"] as? String == "ready")
        #expect((engine["health"] as? [String: Any])?["family"] as? String == "llama2")
        let idle = try #require((boards[1]["facts"] as? [String: Any])?["deployed"] as? [String: Any])
        #expect(idle["bmodel"] == nil)
        #expect((idle["engine"] as? [String: Any])?["state"] as? String == "stopped")
        // Still one look per board: connect, inspect, done.
        for name in names {
            let phases = lines.dropLast().filter { $0["board"] as? String == name }.map { "\($0["phase"]!)/\($0["status"]!)" }
            #expect(phases == ["connect/started", "inspect/started", "done/ok"])
        }

        // The table: the deployed model and the engine's state per board.
        let table = try tpudeploy(["fleet", "inspect", "-i", "boards.ini"])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").map(String.init)
        #expect(rows.contains { $0.hasPrefix(names[0] + " ") && $0.contains("llama2-sim.bmodel") && $0.contains(" ready") }, "\(table.stdout)")
        #expect(rows.contains { $0.hasPrefix(names[1] + " ") && $0.contains("(none)") && $0.contains(" stopped") }, "\(table.stdout)")

        // Its engine stopped: the files are still there, the engine is not.
        let stopped = try tpudeploy(["stop", "--host", hosts[0], "--user", "root", "--identity", identity, "--known-hosts", knownHosts])
        try #require(stopped.status == 0, "\(stopped.stderr)")
        let after = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--limit", names[0], "--json"])
        let afterDeployed = try #require(((after.jsonLines().last?["boards"] as? [[String: Any]])?.first?["facts"] as? [String: Any])?["deployed"] as? [String: Any])
        #expect(afterDeployed["bmodel"] as? String == "llama2-sim.bmodel")
        #expect((afterDeployed["engine"] as? [String: Any])?["state"] as? String == "stopped")
    }
}
