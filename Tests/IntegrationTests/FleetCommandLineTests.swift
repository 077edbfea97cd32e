import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private typealias Outcome = CommandRunOutcome

private func tpudeploy(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Outcome {
    try runTPUDeploy(arguments, in: directory, environment: environment)
}

@Suite("fleet commands on simulated boards")
struct FleetCommandLineTests {
    @Test(.enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
    func simUpWritesAnInventoryThatFleetInspectReads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-fleet-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer {
            // Remove the directory only once the boards are gone: their /boot and /data are mounted inside it.
            if (try? tpudeploy(["sim", "down", "--state-dir", state], in: directory))?.status == 0 {
                try? FileManager.default.removeItem(at: directory)
            }
        }
        let up = try tpudeploy(["sim", "up", "--boards", "3", "--state-dir", state, "--boot-delay", "0", "--inventory", "boards.ini", "--json"], in: directory)
        #expect(up.status == 0, "\(up.stderr)")
        let started = try #require(try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]])
        let names = started.compactMap { $0["name"] as? String }
        let hosts = started.compactMap { $0["host"] as? String }
        #expect(names.count == 3)

        // The inventory is Ansible's INI: the boards by name, with their address, port and profile.
        let inventory = try InventoryLoader.parse(
            String(contentsOf: directory.appendingPathComponent("boards.ini"), encoding: .utf8), file: "boards.ini")
        #expect(inventory.hosts(in: "sim") == names)
        #expect(try inventory.boards(names, defaults: FleetDefaults()).map(\.target.host) == hosts)

        // A deployment for every board; the first holds a pushed model (its manifest, as push records it).
        let inventoryFile = directory.appendingPathComponent("boards.ini")
        try (String(contentsOf: inventoryFile, encoding: .utf8) + "[sim:vars]\ntpudeploy_deployment=chatglm2\n")
            .write(to: inventoryFile, atomically: true, encoding: .utf8)
        let identity = try #require(started.first?["identity_file"] as? String)
        let knownHosts = try #require(started.first?["known_hosts_file"] as? String)
        func ssh(_ host: String, _ command: String) throws {
            let ssh = Process()
            ssh.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
            ssh.arguments = ["-i", identity, "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                             "-F", "/dev/null", "root@\(host)", command]
            ssh.standardInput = FileHandle.nullDevice
            try ssh.run()
            ssh.waitUntilExit()
        }
        let manifest = #"{"files":{"chatglm2-6b.bmodel":{"role":"bmodel","sha256":"00","size":1},"tokenizer.model":{"role":"tokenizer","sha256":"11","size":1}},"schema":"tpudeploy.board-manifest/1"}"#
        try ssh(hosts[0], "mkdir -p /data/tpudeploy/chatglm2 && echo '\(manifest)' > /data/tpudeploy/chatglm2/.tpudeploy-manifest.json")

        // Every board, with the logins of the tpudeploy.yaml sim up wrote.
        let all = try tpudeploy(["fleet", "inspect", "--inventory", "boards.ini", "--json"], in: directory)
        #expect(all.status == 0, "\(all.stderr)")
        let lines = try all.jsonLines()
        let summary = try #require(lines.last)
        #expect(summary["schema"] as? String == "tpudeploy.fleet-summary/1")
        #expect(summary["outcome"] as? String == "ok")
        let boards = try #require(summary["boards"] as? [[String: Any]])
        #expect(boards.compactMap { $0["name"] as? String } == names)
        #expect(boards.allSatisfy { $0["outcome"] as? String == "ok" })
        for board in boards {
            let facts = try #require(board["facts"] as? [String: Any])
            #expect(facts["board"] as? String == "1684x_evb")
            #expect(facts["dtb"] as? String == "bm1684x_evb_v0.0.dtb")
            #expect(facts["hostname"] as? String == board["name"] as? String)
            let npu = try #require((facts["heaps"] as? [[String: Any]])?.first { $0["name"] as? String == "npu" })
            #expect(npu["live_bytes"] as? Int == 0xF6E0_0000)
            let deployed = try #require(facts["deployed"] as? [String: Any])
            #expect(deployed["directory"] as? String == "/data/tpudeploy/chatglm2")
            let isFirst = board["name"] as? String == names[0]
            #expect(deployed["bmodel"] as? String == (isFirst ? "chatglm2-6b.bmodel" : nil))
            #expect(deployed["files"] as? Int == (isFirst ? 2 : 0))
        }
        // Events came before the summary, each board connected, was inspected and is done with its full report.
        let events = lines.dropLast()
        #expect(events.allSatisfy { $0["schema"] as? String == "tpudeploy.fleet-event/1" && $0["run"] as? String == summary["run"] as? String })
        for name in names {
            let phases = events.filter { $0["board"] as? String == name }.map { "\($0["phase"]!)/\($0["status"]!)" }
            #expect(phases == ["connect/started", "inspect/started", "done/ok"])
            let done = try #require(events.first { $0["board"] as? String == name && $0["phase"] as? String == "done" })
            #expect((done["report"] as? [String: Any])?["schema"] as? String == "tpudeploy.inspect/2")
        }

        // --limit selects.
        let limited = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--limit", "sim:!\(names[1])", "--json"], in: directory)
        #expect(limited.status == 0, "\(limited.stderr)")
        let limitedBoards = try #require(try limited.jsonLines().last?["boards"] as? [[String: Any]])
        #expect(limitedBoards.compactMap { $0["name"] as? String } == [names[0], names[2]])

        // One board powered off (its own poweroff: sshd stops, the address stays): that board is unreachable,
        // the others are reported, exit 3.
        try ssh(hosts[2], "poweroff")
        // poweroff only asks the board's init; wait (bounded) until the board says it is off.
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        var polls = 0
        while try simulator.state(of: names[2]) != .down, polls < 100 {
            Thread.sleep(forTimeInterval: 0.1)
            polls += 1
        }
        #expect(try simulator.state(of: names[2]) == .down)
        let partial = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--connect-timeout", "3", "--json"], in: directory)
        #expect(partial.status == 3, "\(partial.stderr)")
        let partialSummary = try #require(try partial.jsonLines().last)
        let outcomes = try #require(partialSummary["boards"] as? [[String: Any]])
        #expect(outcomes.map { $0["outcome"] as? String } == ["ok", "ok", "unreachable"])
        let unreachable = outcomes[2]
        #expect(unreachable["phase"] as? String == "connect")
        let code = (unreachable["error"] as? [String: Any])?["code"] as? String
        #expect(code == "unreachable" || code == "connect_timeout")
        #expect(partialSummary["outcome"] as? String == "failed")

        // A changed host key fails that board only (exit 2 outranks 3), and the table says so on a non-TTY too.
        let text = try String(contentsOfFile: knownHosts, encoding: .utf8)
        var keyLines = text.split(separator: "\n").map(String.init)
        let firstKey = try #require(keyLines.first { $0.hasPrefix(hosts[0] + " ") }?.split(separator: " ").dropFirst().joined(separator: " "))
        keyLines = keyLines.map { $0.hasPrefix(hosts[1] + " ") ? "\(hosts[1]) \(firstKey)" : $0 }
        try (keyLines.joined(separator: "\n") + "\n").write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let changed = try tpudeploy(["fleet", "inspect", "-i", "boards.ini", "--connect-timeout", "3"], in: directory)
        #expect(changed.status == 2, "\(changed.stderr)")
        let rows = changed.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.hasPrefix("BOARD") == true)
        #expect(rows.contains { $0.hasPrefix(names[0]) && $0.contains(" ok ") && $0.contains("1684x_evb") && $0.contains("chatglm2-6b.bmodel") })
        #expect(rows.contains { $0.hasPrefix(names[1]) && $0.contains("failed") && $0.contains("host_key_changed") })
        #expect(rows.contains { $0.hasPrefix(names[2]) && $0.contains("unreachable") })
        #expect(rows.last?.hasPrefix("3 boards: 1 failed, 1 ok, 1 unreachable") == true)
    }

    @Test func planNeedsNoBoardAndBadInputIsOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-fleet-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "[lab]\nevb[01:10] ansible_host=192.0.2.1\n".write(to: directory.appendingPathComponent("lab.ini"), atomically: true, encoding: .utf8)
        let plan = try tpudeploy(["fleet", "plan", "-i", "lab.ini", "--batch", "2,50%", "--max-fail", "20", "--json"], in: directory)
        #expect(plan.status == 0, "\(plan.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "tpudeploy.fleet-plan/1")
        let batches = try #require(object["batches"] as? [[String: Any]])
        #expect(batches.map { ($0["boards"] as? [Any])?.count } == [1, 2, 5, 2])
        #expect(batches.map { $0["size"] as? String } == [nil, "2", "50%", "50%"])
        #expect((object["failure_budget"] as? [String: Any])?["allowed_failures"] as? Int == 2)

        let badBatch = try tpudeploy(["fleet", "plan", "-i", "lab.ini", "--batch", "0"], in: directory)
        #expect(badBatch.status == 1)
        #expect(badBatch.stderr.contains("--batch: '0'"))
        #expect(badBatch.stderr.split(separator: "\n").count == 1)
        let noMatch = try tpudeploy(["fleet", "inspect", "-i", "lab.ini", "--limit", "db*"], in: directory)
        #expect(noMatch.status == 1)
        #expect(noMatch.stderr.contains("selects no host"))
        let missing = try tpudeploy(["fleet", "inspect", "-i", "nope.ini", "--json"], in: directory)
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("nope.ini: no such file"))
        // A flag the parser refuses, with --json: one JSON line on stdout too, not usage text alone.
        for arguments in [["--parallel", "0"], ["--resume", "r", "--only-failed", "r"], ["--nope"]] {
            let refused = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--json"] + arguments, in: directory)
            #expect(refused.status == 64, "\(arguments)")
            let line = try #require(try refused.jsonLines().first, "\(arguments): \(refused.stdout)")
            #expect(line["code"] as? String == "invalid_argument")
            #expect(!(line["error"] as? String ?? "").isEmpty)
        }
        // A tokenizer push would refuse is refused once, before any board (these are unreachable: exit 3 if tried).
        let sims = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("build/sim-models/qwen2-sim")
        try """
            deployment:
              name: qwen
              model: qwen2-sim
              bmodel: \(sims.appendingPathComponent("qwen2-sim.bmodel").path)
              tokenizer: \(sims.appendingPathComponent("tokenizer.json").path)

            """.write(to: directory.appendingPathComponent("q.yaml"), atomically: true, encoding: .utf8)
        let wrongTokenizer = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--config", "q.yaml", "--canary", "0", "--json"], in: directory)
        #expect(wrongTokenizer.status == 1, "\(wrongTokenizer.stdout) \(wrongTokenizer.stderr)")
        #expect(try wrongTokenizer.jsonLines().last?["code"] as? String == "tokenizer_unreadable", "\(wrongTokenizer.stdout)")
        // A project file named with --config that does not exist is said to be missing.
        let noConfig = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--config", "nope.yaml", "--dry-run"], in: directory)
        #expect(noConfig.status != 0)
        #expect(noConfig.stderr.contains("nope.yaml: no such file"), "\(noConfig.stderr)")
    }
}
