import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// `fleet rollout` end to end on a simulated mixed fleet: two EVBs and an SE7 (16 GB) and an SM7M module with
/// 12 GB, rolled out with the small llama2-sim model, whose one 4608 MiB block fits no factory heap (so every
/// board needs its own new layout and a reboot) and no heap a 12 GB SM7M can have.
@Suite("fleet rollout on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FleetRolloutTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("build/sim-models/llama2-sim")

    @Test func aMixedFleetIsRolledOutSkippedRetriedResumedAndInterrupted() throws {
        let fleet = try FleetTestDirectory(prefix: "tpd-rollout", repositoryRoot: Self.root)
        defer { fleet.removeWithItsBoards() }
        let directory = fleet.directory, state = fleet.state, environment = fleet.environment
        func tpudeploy(_ arguments: [String]) throws -> CommandRunOutcome { try fleet.tpudeploy(arguments) }

        // The fleet: three `sim up` into one state directory (one client key and known_hosts), one inventory.
        var inventory = ""
        var hosts: [String: String] = [:]
        for (group, extra) in [("evb", ["--boards", "2"]), ("se7", ["--board", "se7", "--no-config"]), ("sm7", ["--board", "sm7m", "--ram", "12g", "--no-config"])] {
            let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--inventory", "\(group).ini", "--json"] + extra)
            try #require(up.status == 0, "\(up.stderr)")
            for board in try #require(try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]]) {
                hosts[try #require(board["name"] as? String)] = board["host"] as? String
            }
            let text = try String(contentsOf: directory.appendingPathComponent("\(group).ini"), encoding: .utf8)
            inventory += text.replacingOccurrences(of: "[sim]", with: "[\(group)]")
        }
        try inventory.write(to: directory.appendingPathComponent("lab.ini"), atomically: true, encoding: .utf8)
        #expect(hosts.keys.sorted() == ["evb1", "evb2", "se71", "sm7m1"])
        let initialised = try tpudeploy(["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                         "--bmodel", Self.model.appendingPathComponent("llama2-sim.bmodel").path,
                                         "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path])
        try #require(initialised.status == 0, "\(initialised.stderr)")

        // --dry-run: every board inspected, nothing changed; each 16 GB board would get a layout and the whole
        // payload. The 12 GB SM7M cannot: its heaps can be at most 4096 MiB, the model's one neuron block is 4608 MiB,
        // so the dry run already says it would fail (exit 2), as the rollout would.
        let dry = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--dry-run", "--json"])
        #expect(dry.status == 2, "\(dry.stderr)")
        let plan = try #require(try dry.jsonLines().last)
        #expect(plan["schema"] as? String == "tpudeploy.fleet-dry-run/1")
        let planned = try #require(plan["boards"] as? [[String: Any]])
        #expect(planned.map { $0["name"] as? String } == ["evb1", "evb2", "se71", "sm7m1"])
        #expect(planned.map { $0["batch"] as? String } == ["canary", "batch 1", "batch 1", "batch 1"])
        #expect(planned.map { $0["action"] as? String } == ["would_roll_out", "would_roll_out", "would_roll_out", "failed"])
        #expect(planned.dropLast().allSatisfy { ($0["phases"] as? [String]) == ["fix_memory", "reboot", "push", "launch", "verify"] })
        let refusal = (planned.last?["error"] as? [String: Any])
        #expect(refusal?["code"] as? String == "no_layout_fits")
        #expect((refusal?["message"] as? String ?? "").contains("one allocation of 4608 MiB"), "\(refusal ?? [:])")
        #expect(planned.dropLast().map { $0["ddr_bytes"] as? Int } == [16 << 30, 16 << 30, 16 << 30])
        let payloadBytes = try FileManager.default.attributesOfItem(atPath: Self.model.appendingPathComponent("llama2-sim.bmodel").path)[.size] as? Int ?? 0
        #expect(planned.dropLast().allSatisfy { ($0["bytes_to_send"] as? Int ?? 0) > payloadBytes })
        #expect(plan["layout_changes"] as? Int == 3)

        // With a canary and no terminal to ask on, nothing starts without --yes.
        let unconfirmed = try tpudeploy(["fleet", "rollout", "-i", "lab.ini"])
        #expect(unconfirmed.status == 1)
        #expect(unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")

        // The 16 GB boards: the canary, then the other two at once; each gets its layout, reboots, serves.
        let full = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--limit", "all:!sm7", "--yes", "--json", "--parallel", "2"])
        #expect(full.status == 0, "\(full.stderr)")
        let lines = try full.jsonLines()
        let summary = try #require(lines.last)
        #expect(summary["schema"] as? String == "tpudeploy.fleet-summary/1")
        #expect(summary["outcome"] as? String == "ok")
        let fullRun = try #require(summary["run"] as? String)
        let boards = try #require(summary["boards"] as? [[String: Any]])
        #expect(boards.map { $0["name"] as? String } == ["evb1", "evb2", "se71"])
        #expect(boards.allSatisfy { $0["outcome"] as? String == "ok" })
        for name in ["evb1", "evb2", "se71"] {
            let phases = lines.dropLast().filter { $0["board"] as? String == name && $0["status"] as? String != "progress" }
                .map { "\($0["phase"]!)/\($0["status"]!)" }
            // The layout first, then the relay: only boards that will push receive the payload.
            #expect(phases == ["connect/started", "inspect/started", "inspect/done", "fix_memory/started", "fix_memory/done",
                               "reboot/started", "reboot/done", "distribute/started", "distribute/done", "push/started", "push/done", "launch/started", "launch/done",
                               "verify/started", "verify/done", "done/ok"], "\(name)")
        }
        // The canary ended before any other board connected.
        let canaryDone = try #require(lines.firstIndex { $0["board"] as? String == "evb1" && $0["phase"] as? String == "done" })
        let othersStart = try #require(lines.firstIndex { $0["board"] as? String != "evb1" && $0["schema"] as? String == "tpudeploy.fleet-event/1" })
        #expect(canaryDone < othersStart)
        // What a user checks on a board: the new live heaps and a serving engine.
        let inspected = try tpudeploy(["fleet", "inspect", "-i", "lab.ini", "--limit", "all:!sm7", "--json"])
        for board in try #require(try inspected.jsonLines().last?["boards"] as? [[String: Any]]) {
            let facts = try #require(board["facts"] as? [String: Any])
            let npu = (facts["heaps"] as? [[String: Any]])?.first { $0["name"] as? String == "npu" }
            #expect((npu?["live_bytes"] as? Int ?? 0) >= 4608 << 20, "\(board["name"] ?? "?")")
            #expect(facts["engine_running"] as? Bool == true)
        }

        // The same rollout again: every board is at the target and skipped after one look.
        let again = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--limit", "all:!sm7", "--yes", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let skipped = try #require(try again.jsonLines().last?["boards"] as? [[String: Any]])
        #expect(skipped.map { $0["outcome"] as? String } == ["skipped", "skipped", "skipped"])
        #expect(!again.stdout.contains("\"phase\":\"push\""))

        // evb2 powered off: unreachable, the others still done, exit 3.
        let evb2 = try #require(hosts["evb2"])
        _ = try? SimulatedBoardHarness.run("/usr/bin/ssh", [
            "-i", directory.appendingPathComponent("sim/client/id_ed25519").path, "-o", "UserKnownHostsFile=\(directory.appendingPathComponent("sim/known_hosts").path)",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(evb2)", "poweroff"])
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        var polls = 0
        while try simulator.state(of: "evb2") != .down, polls < 100 {
            Thread.sleep(forTimeInterval: 0.1)
            polls += 1
        }
        let partial = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--limit", "all:!sm7", "--canary", "0", "--parallel", "1",
                                     "--connect-timeout", "3", "--json"])
        #expect(partial.status == 3, "\(partial.stderr)")
        let partialSummary = try #require(try partial.jsonLines().last)
        let partialRun = try #require(partialSummary["run"] as? String)
        let partialBoards = try #require(partialSummary["boards"] as? [[String: Any]])
        #expect(partialBoards.map { $0["outcome"] as? String } == ["skipped", "unreachable", "skipped"])
        #expect(partialBoards[1]["phase"] as? String == "connect")

        // A failure budget of 0 %: the first board not reached stops the run; the rest are not started, exit 4.
        let budget = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--limit", "evb:sm7", "--canary", "0", "--parallel", "1",
                                    "--max-fail", "0", "--connect-timeout", "3", "--json"])
        #expect(budget.status == 4, "\(budget.stderr)")
        let budgetSummary = try #require(try budget.jsonLines().last)
        #expect(budgetSummary["outcome"] as? String == "aborted")
        #expect(budgetSummary["stopped_by"] as? String == "failure_budget")
        #expect((budgetSummary["boards"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["skipped", "unreachable", "not_started"])

        let budgetRun = try #require(budgetSummary["run"] as? String)

        // evb2 back on: --resume continues the run it was not reached in, under the same name, leaving alone the
        // boards that ended well in it.
        let power = try tpudeploy(["sim", "reboot", "evb2", "--state-dir", state])
        try #require(power.status == 0, "\(power.stderr)")
        let resumed = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--resume", partialRun, "--yes", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let resumedLines = try resumed.jsonLines()
        let resumedSummary = try #require(resumedLines.last)
        #expect(resumedSummary["run"] as? String == partialRun)
        let resumedBoards = try #require(resumedSummary["boards"] as? [[String: Any]])
        #expect(resumedBoards.map { $0["name"] as? String } == ["evb1", "evb2", "se71"])
        #expect(["ok", "skipped"].contains(resumedBoards[1]["outcome"] as? String ?? ""))
        for name in ["evb1", "se71"] {
            let events = resumedLines.dropLast().filter { $0["board"] as? String == name }
            #expect(events.map { "\($0["phase"]!)/\($0["status"]!)" } == ["done/skipped"], "\(name) was contacted again")
        }
        // The journal of each run is where the documentation says.
        let journal = directory.appendingPathComponent("state/tpudeploy/runs/\(fullRun)/journal.jsonl")
        #expect((try? String(contentsOf: journal, encoding: .utf8))?.contains("\"phase\":\"reboot\",\"status\":\"done\"") == true)

        // --only-failed takes the boards of the budget run that did not end well: evb2 (now at the target) and the
        // 12 GB SM7M, which no layout it can have lets hold the model's one 4608 MiB block: it fails at its
        // inspection, its boot image untouched.
        let sm7 = try #require(hosts["sm7m1"])
        func bootImageHash() throws -> String {
            try SimulatedBoardHarness.run("/usr/bin/ssh", [
                "-i", directory.appendingPathComponent("sim/client/id_ed25519").path, "-o", "UserKnownHostsFile=\(directory.appendingPathComponent("sim/known_hosts").path)",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(sm7)", "sha256sum /boot/emmcboot.itb"])
        }
        let imageBefore = try bootImageHash()
        let retried = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--only-failed", budgetRun, "--yes"])
        #expect(retried.status == 2, "\(retried.stdout) \(retried.stderr)")
        let rows = retried.stdout.split(separator: "\n").map(String.init)
        #expect(rows.filter { $0.hasPrefix("evb") || $0.hasPrefix("se7") || $0.hasPrefix("sm7") }.map { String($0.prefix(5)) } == ["evb2 ", "sm7m1"])
        #expect(rows.contains { $0.hasPrefix("evb2 ") && $0.contains("skipped") }, "\(retried.stdout)")
        let row = rows.first { $0.hasPrefix("sm7m1") } ?? ""
        #expect(row.contains("failed") && row.contains("inspect") && row.contains("no_layout_fits"), "\(retried.stdout)")
        #expect(try bootImageHash() == imageBefore)
        // Refused for fit before the relay, it received nothing of the payload (not even a partial file).
        let held = try SimulatedBoardHarness.run("/usr/bin/ssh", [
            "-i", directory.appendingPathComponent("sim/client/id_ed25519").path, "-o", "UserKnownHostsFile=\(directory.appendingPathComponent("sim/known_hosts").path)",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(sm7)", "ls -A /data/tpudeploy/llama2-sim 2>/dev/null | wc -l"])
        #expect(held.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "sm7m1 holds files of the deployment")

        // Ctrl-C (--no-relay: the push sends): evb1 lost its engine build (17 MiB) and its link is slowed, so its push takes a while. The first Ctrl-C starts no
        // new board (evb2 is never started) and lets the transfer go on; the second stops it; exit 130. --resume
        // then finishes the push from what the board kept.
        let evb1 = try #require(hosts["evb1"])
        _ = try SimulatedBoardHarness.run("/usr/bin/ssh", [
            "-i", directory.appendingPathComponent("sim/client/id_ed25519").path, "-o", "UserKnownHostsFile=\(directory.appendingPathComponent("sim/known_hosts").path)",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(evb1)", "rm /data/tpudeploy/llama2-sim/tpu-llm-engine"])
        let slowed = try tpudeploy(["sim", "link", "evb1", "--rate-mbit", "8", "--state-dir", state])
        try #require(slowed.status == 0, "\(slowed.stderr)")
        let rollout = Process()
        rollout.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy")
        rollout.arguments = ["fleet", "rollout", "-i", "lab.ini", "--limit", "evb", "--canary", "0", "--parallel", "1", "--no-relay", "--json"]
        rollout.currentDirectoryURL = directory
        var processEnvironment = ProcessInfo.processInfo.environment
        processEnvironment["TPUDEPLOY_PROFILES"] = Self.root.appendingPathComponent("Profiles").path
        for (key, value) in environment { processEnvironment[key] = value }
        rollout.environment = processEnvironment
        let output = Pipe()
        rollout.standardOutput = output
        rollout.standardError = FileHandle.nullDevice
        rollout.standardInput = FileHandle.nullDevice
        try rollout.run()
        var streamed: [[String: Any]] = []
        func nextLine() -> [String: Any]? {
            var bytes = Data()
            while true {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { return nil }
                if byte.first == 10 { break }
                bytes.append(byte)
            }
            let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any]
            if let object { streamed.append(object) }
            return object
        }
        func waitForPushProgress() -> Bool {
            while let line = nextLine() {
                if line["board"] as? String == "evb1", line["phase"] as? String == "push", line["status"] as? String == "progress" { return true }
            }
            return false
        }
        #expect(waitForPushProgress())
        kill(rollout.processIdentifier, SIGINT)
        // The transfer goes on after the first Ctrl-C: more of it is reported.
        #expect(waitForPushProgress())
        kill(rollout.processIdentifier, SIGINT)
        while nextLine() != nil {}
        rollout.waitUntilExit()
        #expect(rollout.terminationStatus == 130)
        let interrupted = try #require(streamed.last)
        #expect(interrupted["outcome"] as? String == "interrupted")
        let interruptedRun = try #require(interrupted["run"] as? String)
        let stopped = try #require(interrupted["boards"] as? [[String: Any]])
        #expect(stopped.map { $0["outcome"] as? String } == ["failed", "not_started"])
        #expect(stopped.first?["phase"] as? String == "push")
        #expect((stopped.first?["error"] as? [String: Any])?["code"] as? String == "interrupted")

        _ = try tpudeploy(["sim", "link", "evb1", "--unlimited", "--state-dir", state])
        let finished = try tpudeploy(["fleet", "rollout", "-i", "lab.ini", "--resume", interruptedRun, "--yes", "--no-relay", "--json"])
        #expect(finished.status == 0, "\(finished.stderr)")
        let finishedLines = try finished.jsonLines()
        #expect((finishedLines.last?["boards"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["ok", "skipped"])
        // Resumed, not sent again: fewer bytes left to send than the engine build holds.
        let engineBytes = try #require(finishedLines.first { $0["board"] as? String == "evb1" && $0["phase"] as? String == "inspect" && $0["status"] as? String == "done" })
        let left = finishedLines.first { $0["board"] as? String == "evb1" && $0["phase"] as? String == "push" && $0["bytes_total"] != nil }?["bytes_total"] as? Int
        let stoppedAt = streamed.last { $0["phase"] as? String == "push" && $0["bytes_total"] != nil }?["bytes_total"] as? Int
        #expect(left != nil && stoppedAt != nil && left! < stoppedAt!, "\(engineBytes)")
    }
}
