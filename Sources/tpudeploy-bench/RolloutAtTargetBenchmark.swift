import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// A rollout of boards already at the target. `tpudeploy fleet rollout` brings every board there first (push,
/// launch, verify of a small simulated model: the full-rollout figure), then runs again, measured, where every
/// board must be `skipped`; Ansible then makes the same check with the same parallelism (facts, the sha256 of
/// every deployed file hashed on the board, the engine's /health: `ansible/at-target-check.yml`).
/// Nothing here throws: what is missing or does not get every board there is recorded as "not measured" with
/// what happened, never as a number.
func benchmarkRolloutAtTarget(tpudeploy: String, ansible: AnsibleBaseline?, inventory: URL, simulator: Simulator,
                              boards: Int, runs: Int, directory: URL) -> FleetBenchmarkResult.Rollout {
    let command = "tpudeploy fleet rollout --inventory boards.ini --canary 0 --parallel \(boards) --yes --json"
    let arguments = [tpudeploy, "fleet", "rollout", "--inventory", inventory.path, "--canary", "0", "--parallel", String(boards), "--yes", "--json"]
    let fullName = "tpudeploy fleet rollout (every board from nothing to serving)"
    let skipName = "tpudeploy fleet rollout (every board already at the target)"
    var result = FleetBenchmarkResult.Rollout(
        full: .init(tool: fullName, command: command, notMeasured: "not measured: not run"),
        atTarget: .init(tool: skipName, command: command, notMeasured: "not measured: the boards never all reached the target"),
        ansibleCheck: [], preparation: [])
    // An unknown subcommand's --help prints `fleet`'s help and succeeds: look for rollout's own usage line.
    guard let help = try? runProcess(tpudeploy, ["fleet", "rollout", "--help"]), help.contains("tpudeploy fleet rollout") else {
        result.full.notMeasured = "not measured: this build has no `tpudeploy fleet rollout`"
        return result
    }
    let model = URL(fileURLWithPath: "build/sim-models/llama2-sim").standardizedFileURL
    // Each run's journal goes to $XDG_STATE_HOME/tpudeploy/runs: here, not in the user's home.
    let environment = ["XDG_STATE_HOME": directory.appendingPathComponent("state").path]
    func rollout(_ extra: [String] = [], log: String, interval: Double = 0.25) throws -> (MeteredRun, summary: FleetSummaryLine) {
        let run = try meteredRun(arguments + extra, environment: environment, directory: directory, deadlineSeconds: 900,
                                 interval: interval, log: directory.appendingPathComponent(log))
        return (run, FleetSummaryLine(run.output))
    }
    do {
        // The deployment every board gets, in the tpudeploy.yaml `sim up` wrote beside the inventory.
        try runProcess(tpudeploy, ["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                   "--bmodel", model.appendingPathComponent("llama2-sim.bmodel").path,
                                   "--tokenizer", model.appendingPathComponent("tokenizer.model").path], directory: directory)
        let (first, summary) = try rollout(log: "rollout-full.jsonl")
        result.full = .init(tool: fullName, command: command, runs: [.init(first, boardsOK: summary.count("ok"))], boardsInFlight: boards)
        // Boards the first run did not finish are retried once, so that the skip is still measured on all of
        // them; the full-rollout figure above keeps its failures (boards_ok, and `preparation` says why).
        var reached = summary.count("ok") + summary.count("skipped")
        if reached < boards, let run = summary.run {
            result.preparation.append("the full rollout ended \(reached) of \(boards) boards at the target (exit \(first.exitStatus)): \(summary.failures)")
            let (retry, retried) = try rollout(["--only-failed", run], log: "rollout-only-failed.jsonl")
            reached += retried.count("ok")
            result.preparation.append("`--only-failed \(run)` brought \(retried.count("ok")) more there (exit \(retry.exitStatus), \(String(format: "%.1f", retry.seconds)) s)\(retried.failures.isEmpty ? "" : ": \(retried.failures)")")
        }
        guard reached == boards else { return result }

        var skipRuns: [FleetBenchmarkResult.Run] = []
        for run in 0..<runs {
            let (again, summary) = try rollout(log: "rollout-skip-\(run).jsonl", interval: 0.05)
            let skipped = summary.count("skipped")
            guard again.exitStatus == 0, skipped == boards else {
                result.atTarget.notMeasured = "not measured: a rollout of boards at the target skipped \(skipped) of \(boards) (exit \(again.exitStatus)): \(summary.failures)"
                return result
            }
            skipRuns.append(.init(again, boardsOK: skipped))
        }
        result.atTarget = .init(tool: skipName, command: command, runs: skipRuns, boardsInFlight: boards)
    } catch {
        result.preparation.append("stopped: \(error)")
        return result
    }

    // Ansible's check of the same boards, against the files every board holds now.
    guard let ansible else {
        result.ansibleCheck = [.init(tool: "ansible-playbook at-target-check.yml", command: "", notMeasured: AnsibleBaseline.notInstalled)]
        return result
    }
    do {
        let variables = try writeAtTargetVariables(simulator: simulator, to: directory.appendingPathComponent("at-target-vars.json"))
        let playbook = URL(fileURLWithPath: "Sources/tpudeploy-bench/ansible/at-target-check.yml").standardizedFileURL
        result.ansibleCheck = try ansible.variants(
            tool: "ansible-playbook at-target-check.yml", command: "ansible-playbook -i boards.ini at-target-check.yml -e @at-target-vars.json -f \(boards)",
            boards: boards, runs: max(1, runs - 1), passed: AnsibleBaseline.hostsPassedPlaybook) { pipelining, run in
            try ansible.playbook(playbook, extraVariables: variables, forks: boards, pipelining: pipelining, deadlineSeconds: 900,
                                 log: directory.appendingPathComponent("ansible-at-target-\(pipelining)-\(run).log"))
        }
    } catch {
        result.ansibleCheck = [.init(tool: "ansible-playbook at-target-check.yml", command: "", notMeasured: "not measured: \(error)")]
    }
    let ours = result.atTarget.medianSeconds, theirs = result.ansibleCheck.first?.medianSeconds
    let everyBoardPassed = result.ansibleCheck.allSatisfy { $0.runs.allSatisfy { $0.boardsOK == boards } }
    result.speedupOverAnsible = ours.flatMap { ours in theirs.map { $0 / ours } }
    result.goalMet = result.speedupOverAnsible.map { $0 > 1 && everyBoardPassed }
    return result
}

/// The playbook's extra variables: the deployment directory, the engine's port and every deployed file with its
/// sha256, from the manifest `push` left on the first board (every board holds the same files: the rollout
/// skipped them all because their manifests match the payload).
private func writeAtTargetVariables(simulator: Simulator, to file: URL) throws -> URL {
    guard let board = try simulator.list().first?.board else { throw BenchmarkError(description: "no simulated board is running") }
    let directory = DeploymentSettings.defaultRemoteDir(name: "llama2-sim")
    let text = try runProcess("/usr/bin/ssh", ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)",
                                               "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null",
                                               "root@\(board.host)", "cat", "\(directory)/\(BoardManifest.fileName)"])
    let manifest = BoardManifest(text: text)
    guard !manifest.files.isEmpty else { throw BenchmarkError(description: "\(board.name) has no deployment manifest") }
    let variables: [String: Any] = [
        "deploy_dir": directory, "engine_port": DeploymentSettings.defaultPort,
        "deployed": manifest.files.keys.sorted().map { ["name": $0, "sha256": manifest.files[$0]!.sha256] },
    ]
    try JSONSerialization.data(withJSONObject: variables, options: [.sortedKeys]).write(to: file)
    return file
}

/// The `tpudeploy.fleet-summary/1` line of a JSON-lines output: counts by outcome, the run's name, and the
/// boards that did not end well with their errors (empty when there is no such line).
struct FleetSummaryLine {
    var counts: [String: Int] = [:]
    var run: String?
    var failures = ""

    init(_ output: String) {
        guard let line = output.split(separator: "\n").last(where: { $0.contains("tpudeploy.fleet-summary/1") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return }
        counts = object["counts"] as? [String: Int] ?? [:]
        run = object["run"] as? String
        let boards = object["boards"] as? [[String: Any]] ?? []
        let failed = boards.compactMap { board -> String? in
            guard let outcome = board["outcome"] as? String, outcome != "ok", outcome != "skipped" else { return nil }
            let error = (board["error"] as? [String: Any]).map { "\($0["code"] ?? ""): \($0["message"] ?? "")" } ?? ""
            return "\(board["name"] ?? "?") \(outcome) in \(board["phase"] ?? "?") (\(error))"
        }
        // The first few say what went wrong; the count says how often.
        failures = failed.prefix(8).joined(separator: "; ") + (failed.count > 8 ? "; and \(failed.count - 8) more" : "")
    }

    func count(_ outcome: String) -> Int { counts[outcome] ?? 0 }
}
