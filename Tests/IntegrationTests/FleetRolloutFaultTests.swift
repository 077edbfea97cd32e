import Foundation
import Testing
import TPUDeployKit
@testable import TPUDeploySimulator

/// Faults of a relayed `fleet rollout` on three simulated boards, from the command line: a board whose host key
/// changed (re-flashed) or is unknown, and Ctrl-C while the boards relay the payload to each other.
@Suite("fleet rollout faults on simulated boards", .serialized, .hangGuard,
       .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct FleetRolloutFaultTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("build/sim-models/chatglm2-sim")
    static let deploymentDirectory = "/data/tpudeploy/chatglm2-sim"

    /// Three boards, an inventory, and a deployment of the small chatglm2-sim model (its payload is mostly the
    /// engine build, about 18 MiB).
    private func fleet() throws -> FleetTestDirectory {
        let fleet = try FleetTestDirectory(prefix: "tpd-faults", repositoryRoot: Self.root)
        do {
            let up = try fleet.tpudeploy(["sim", "up", "--state-dir", fleet.state, "--boot-delay", "0", "--boards", "3", "--inventory", "boards.ini"])
            try #require(up.status == 0, "\(up.stderr)")
            let initialised = try fleet.tpudeploy(["init", "--deployment", "chatglm2-sim", "--profile", "chatglm2-sim",
                                                   "--bmodel", Self.model.appendingPathComponent("chatglm2-sim.bmodel").path,
                                                   "--tokenizer", Self.model.appendingPathComponent("tokenizer.model").path])
            try #require(initialised.status == 0, "\(initialised.stderr)")
        } catch {
            fleet.removeWithItsBoards()
            throw error
        }
        return fleet
    }

    /// A board's own directory in the simulator's state: its /boot, /data and sshd keys, seen from this host.
    private func boardDirectory(_ fleet: FleetTestDirectory, _ name: String) -> URL {
        URL(fileURLWithPath: fleet.state).appendingPathComponent("boards/\(name)")
    }

    private func host(_ fleet: FleetTestDirectory, _ name: String) throws -> String {
        try Simulator(stateDirectory: URL(fileURLWithPath: fleet.state)).layout.record(name).board.host
    }

    /// A command on the board with OpenSSH's own client and the simulator's known_hosts.
    @discardableResult
    private func onBoard(_ fleet: FleetTestDirectory, _ name: String, _ command: String) throws -> String {
        try SimulatedBoardHarness.run("/usr/bin/ssh", [
            "-i", fleet.directory.appendingPathComponent("sim/client/id_ed25519").path,
            "-o", "UserKnownHostsFile=\(fleet.directory.appendingPathComponent("sim/known_hosts").path)",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "root@\(try host(fleet, name))", command])
    }

    /// The sha256 of every file under the board's /boot and /data, by path: what "nothing changed" is judged on.
    private func contents(_ fleet: FleetTestDirectory, _ name: String) throws -> [String: String] {
        var hashes: [String: String] = [:]
        for part in ["boot", "data"] {
            let base = boardDirectory(fleet, name).appendingPathComponent(part)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let path as String in walker {
                let url = base.appendingPathComponent(path)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                hashes["/\(part)/\(path)"] = Digest.hex(Digest.sha256(Array(try Data(contentsOf: url))))
            }
        }
        return hashes
    }

    private func phases(_ lines: [[String: Any]], _ board: String) -> [String] {
        lines.filter { $0["board"] as? String == board && $0["status"] as? String != "progress" }.map { "\($0["phase"]!)/\($0["status"]!)" }
    }

    /// A re-flashed board (a new sshd host key, its old one still in known_hosts) fails alone with
    /// `host_key_changed` and is not touched; the others are rolled out; exit 2. Without its known_hosts line the
    /// board is refused (`host_key_unknown`) unless `--accept-new-host-key`, which records its key and rolls it out.
    @Test func aChangedHostKeyFailsThatBoardAloneAndAnUnknownOneIsRefusedUnlessAccepted() throws {
        let fleet = try fleet()
        defer { fleet.removeWithItsBoards() }

        // evb2 gets a new host key, as a re-flashed board does, and boots with it.
        let key = boardDirectory(fleet, "evb2").appendingPathComponent("ssh/ssh_host_ed25519_key")
        let knownHostsFile = fleet.directory.appendingPathComponent("sim/known_hosts")
        let knownBefore = try String(contentsOf: knownHostsFile, encoding: .utf8)
        try FileManager.default.removeItem(at: key)
        try FileManager.default.removeItem(at: key.appendingPathExtension("pub"))
        try SimulatedBoardHarness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "tpudeploy-sim", "-f", key.path])
        let rebooted = try fleet.tpudeploy(["sim", "reboot", "evb2", "--state-dir", fleet.state])
        try #require(rebooted.status == 0, "\(rebooted.stderr)")
        let untouched = try contents(fleet, "evb2")
        #expect(untouched.keys.contains("/boot/emmcboot.itb"))

        let rollout = try fleet.tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--json"])
        #expect(rollout.status == 2, "\(rollout.stderr)")
        let lines = try rollout.jsonLines()
        let summary = try #require(lines.last)
        #expect(summary["outcome"] as? String == "failed")
        let boards = try #require(summary["boards"] as? [[String: Any]])
        #expect(boards.map { $0["name"] as? String } == ["evb1", "evb2", "evb3"])
        #expect(boards.map { $0["outcome"] as? String } == ["ok", "failed", "ok"], "\(boards)")
        #expect(boards[1]["phase"] as? String == "connect")
        let error = try #require(boards[1]["error"] as? [String: Any])
        #expect(error["code"] as? String == "host_key_changed", "\(error)")
        #expect(phases(lines, "evb2") == ["connect/started", "connect/failed"])
        // The others relayed to each other without it and serve.
        #expect(phases(lines, "evb3").contains("distribute/done") && phases(lines, "evb3").contains("verify/done"))
        // Nothing changed on evb2, and the known_hosts file still holds its old key (nothing was "fixed" silently).
        #expect(try contents(fleet, "evb2") == untouched)
        #expect(try String(contentsOf: knownHostsFile, encoding: .utf8) == knownBefore)

        // evb2's line removed: its key is unknown now, and refused without --accept-new-host-key.
        let evb2 = try host(fleet, "evb2")
        let withoutEVB2 = knownBefore.split(separator: "\n").filter { !$0.hasPrefix(evb2 + " ") }.map { $0 + "\n" }.joined()
        #expect(withoutEVB2 != knownBefore)
        try withoutEVB2.write(to: knownHostsFile, atomically: true, encoding: .utf8)
        let refused = try fleet.tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--json"])
        #expect(refused.status == 2, "\(refused.stderr)")
        let refusedBoards = try #require(try refused.jsonLines().last?["boards"] as? [[String: Any]])
        #expect(refusedBoards.map { $0["outcome"] as? String } == ["skipped", "failed", "skipped"], "\(refusedBoards)")
        #expect((refusedBoards[1]["error"] as? [String: Any])?["code"] as? String == "host_key_unknown", "\(refusedBoards[1])")
        #expect(try contents(fleet, "evb2") == untouched)
        #expect(try String(contentsOf: knownHostsFile, encoding: .utf8) == withoutEVB2)

        // --accept-new-host-key: recorded, and the board is rolled out.
        let accepted = try fleet.tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--accept-new-host-key", "--json"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        let acceptedBoards = try #require(try accepted.jsonLines().last?["boards"] as? [[String: Any]])
        #expect(acceptedBoards.map { $0["outcome"] as? String } == ["skipped", "ok", "skipped"], "\(acceptedBoards)")
        let newKey = try #require(try String(contentsOf: key.appendingPathExtension("pub"), encoding: .utf8).split(separator: " ").dropFirst().first.map(String.init))
        let recorded = try String(contentsOf: knownHostsFile, encoding: .utf8)
        #expect(recorded.contains(newKey), "\(recorded)")
    }

    /// Ctrl-C from the command line while two boards relay the payload to each other over slow links: the first
    /// lets the distribution go on and starts no new board or phase; the second stops the transfers; exit 130,
    /// the summary says `interrupted`, no relay agent is left on any board, nothing half-written is under its final
    /// name. `--resume` then finishes, and what the boards kept is not sent again.
    @Test func ctrlCDuringARelayedRolloutStopsCleanlyAndResumeSendsOnlyWhatIsMissing() throws {
        let fleet = try fleet()
        defer { fleet.removeWithItsBoards() }
        let names = ["evb1", "evb2", "evb3"]
        let dry = try fleet.tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--dry-run", "--json"])
        try #require(dry.status == 0, "\(dry.stderr)")
        let payloadBytes = try #require((try dry.jsonLines().last?["boards"] as? [[String: Any]])?.first?["bytes_to_send"] as? Int)
        #expect(payloadBytes > 8 << 20)
        // 8 Mbit/s ports: relaying the payload takes many seconds, so the test acts while it is in flight.
        for name in names {
            let shaped = try fleet.tpudeploy(["sim", "link", name, "--rate-mbit", "8", "--state-dir", fleet.state])
            try #require(shaped.status == 0, "\(shaped.stderr)")
        }

        // evb1 and evb2 are the first batch and relay to each other; evb3 is the second batch.
        let rollout = Process()
        rollout.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy")
        rollout.arguments = ["fleet", "rollout", "-i", "boards.ini", "--canary", "0", "--batch", "2", "--yes", "--json"]
        rollout.currentDirectoryURL = fleet.directory
        var environment = ProcessInfo.processInfo.environment
        environment["TPUDEPLOY_PROFILES"] = Self.root.appendingPathComponent("Profiles").path
        for (key, value) in fleet.environment { environment[key] = value }
        rollout.environment = environment
        let output = Pipe()
        rollout.standardOutput = output
        let stderrFile = fleet.directory.appendingPathComponent("rollout.stderr")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        rollout.standardError = try FileHandle(forWritingTo: stderrFile)
        rollout.standardInput = FileHandle.nullDevice
        try rollout.run()
        var streamed: [[String: Any]] = []
        var pending = Data()
        func nextLine() -> [String: Any]? {
            while true {
                if let newline = pending.firstIndex(of: 10) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[(newline + 1)...])
                    guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else { continue }
                    streamed.append(object)
                    return object
                }
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { return nil }
                pending += data
            }
        }
        /// Reads events until a relay progress report of at least `bytes` received; false if the run ended first.
        func waitForRelayProgress(atLeast bytes: Int, board: String? = nil) -> Bool {
            while let line = nextLine() {
                if line["phase"] as? String == "distribute", line["status"] as? String == "progress",
                   board == nil || line["board"] as? String == board, (line["bytes_done"] as? Int ?? 0) >= bytes {
                    return true
                }
            }
            return false
        }
        // evb1 has over 2 MiB (the agent resumes from whole MiB): the first Ctrl-C.
        let inFlight = waitForRelayProgress(atLeast: 2 << 20, board: "evb1")
        kill(rollout.processIdentifier, SIGINT)
        // The distribution goes on: more arrives after it.
        let reached = streamed.filter { $0["phase"] as? String == "distribute" }.compactMap { $0["bytes_done"] as? Int }.max() ?? 0
        let wentOn = waitForRelayProgress(atLeast: reached + 1)
        kill(rollout.processIdentifier, SIGINT)
        while nextLine() != nil {}
        rollout.waitUntilExit()
        let stderrText = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
        try #require(inFlight, "no relay progress for evb1: \(stderrText)")
        #expect(wentOn, "the relay stopped at the first Ctrl-C: \(stderrText)")

        #expect(rollout.terminationStatus == 130, "\(stderrText)")
        let summary = try #require(streamed.last)
        #expect(summary["schema"] as? String == "tpudeploy.fleet-summary/1")
        #expect(summary["outcome"] as? String == "interrupted")
        #expect(summary["stopped_by"] as? String == "interrupt")
        let run = try #require(summary["run"] as? String)
        let boards = try #require(summary["boards"] as? [[String: Any]])
        #expect(boards.map { $0["outcome"] as? String } == ["failed", "failed", "not_started"], "\(boards)")
        #expect(boards.prefix(2).allSatisfy { ($0["error"] as? [String: Any])?["code"] as? String == "interrupted" }, "\(boards)")
        // No new board (evb3) and no new phase started: the relay comes after fix_memory and the reboot, so the
        // phases it held back are push and launch. The relay ended interrupted on both boards.
        #expect(phases(streamed, "evb3") == ["done/not_started"], "\(phases(streamed, "evb3"))")
        for name in ["evb1", "evb2"] {
            let seen = phases(streamed, name)
            #expect(seen.contains("reboot/done") || !seen.contains("reboot/started"), "\(name): \(seen)")
            #expect(!seen.contains("push/started") && !seen.contains("launch/started"), "\(name): \(seen)")
            let relayEnd = streamed.last { $0["board"] as? String == name && $0["phase"] as? String == "distribute" && $0["status"] as? String != "progress" }
            #expect(relayEnd?["status"] as? String == "failed" && (relayEnd?["error"] as? [String: Any])?["code"] as? String == "interrupted", "\(name): \(relayEnd ?? [:])")
        }

        // No relay agent is left on any board (each exits once its input is closed; a bounded wait for that).
        for name in names {
            var left = ""
            for _ in 0..<100 {
                left = try onBoard(fleet, name, "pgrep -c -f '/tpu-relay[.][^/ ]*/agent \(Self.deploymentDirectory)' || true").trimmingCharacters(in: .whitespacesAndNewlines)
                if left == "0" { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(left == "0", "\(name) still runs \(left) relay agent(s)")
        }
        // What each board holds: a kept partial transfer on evb1, and nothing half-written under a final name
        // (judged against the manifest once the resume below has finished).
        func deploymentFiles(_ name: String) -> URL {
            // The board's /data is its state directory's data/.
            boardDirectory(fleet, name).appendingPathComponent(String(Self.deploymentDirectory.dropFirst()))
        }
        var finalNames: [String: [String: String]] = [:]
        var kept = 0
        for name in names {
            let directory = deploymentFiles(name)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where !file.hasPrefix(".") {
                let url = directory.appendingPathComponent(file)
                if file.hasSuffix(".partial") {
                    if name == "evb1" { kept += (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
                } else {
                    finalNames[name, default: [:]][file] = Digest.hex(Digest.sha256(Array(try Data(contentsOf: url))))
                }
            }
        }
        #expect(kept >= 1 << 20, "evb1 kept \(kept) bytes of its transfer")

        // --resume, links fast again: the boards finish, and the host sends less than the payload (evb1, first in
        // the chain, resumes what it kept; the others get it from the board before them).
        for name in names { _ = try fleet.tpudeploy(["sim", "link", name, "--unlimited", "--state-dir", fleet.state]) }
        let resumed = try fleet.tpudeploy(["fleet", "rollout", "-i", "boards.ini", "--resume", run, "--canary", "0", "--yes", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let resumedLines = try resumed.jsonLines()
        let resumedSummary = try #require(resumedLines.last)
        #expect(resumedSummary["run"] as? String == run)
        #expect((resumedSummary["boards"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["ok", "ok", "ok"], "\(resumedSummary)")
        let relayed = try #require(resumedSummary["relay_host_bytes_sent"] as? Int)
        #expect(relayed <= payloadBytes - (1 << 20), "the host sent \(relayed) of \(payloadBytes) bytes again")
        #expect(resumedLines.contains { $0["phase"] as? String == "distribute" && $0["status"] as? String == "done" }, "the resume did not relay")
        for name in names {
            let manifestURL = deploymentFiles(name).appendingPathComponent(".tpudeploy-manifest.json")
            let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
            let files = try #require(manifest["files"] as? [String: [String: Any]])
            for (file, hash) in finalNames[name] ?? [:] {
                #expect(files[file]?["sha256"] as? String == hash, "\(name): \(file) was under its final name with other bytes")
            }
            let partials = ((try? FileManager.default.contentsOfDirectory(atPath: deploymentFiles(name).path)) ?? []).filter { $0.hasSuffix(".partial") }
            #expect(partials.isEmpty, "\(name): \(partials)")
        }
    }
}
