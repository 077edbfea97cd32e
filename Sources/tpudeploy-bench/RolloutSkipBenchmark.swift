import Foundation

/// A rollout of boards already at the target: `tpudeploy fleet rollout` once to bring every board there (push,
/// launch, verify of a small simulated model), then again, measured, where every board must be `skipped`.
/// Nothing here throws: a rollout that is missing or does not get every board there is recorded as
/// "not measured" with what happened, never as a number.
func benchmarkRolloutSkip(tpudeploy: String, inventory: URL, boards: Int, runs: Int, directory: URL)
    -> (first: FleetBenchmarkResult.Tool, skip: FleetBenchmarkResult.Tool) {
    let command = "tpudeploy fleet rollout --inventory boards.ini --canary 0 --parallel \(boards) --yes --json"
    let arguments = [tpudeploy, "fleet", "rollout", "--inventory", inventory.path, "--canary", "0", "--parallel", String(boards), "--yes", "--json"]
    func notMeasured(_ reason: String) -> (FleetBenchmarkResult.Tool, FleetBenchmarkResult.Tool) {
        (.init(tool: "tpudeploy fleet rollout (first)", command: command, notMeasured: "not measured: \(reason)"),
         .init(tool: "tpudeploy fleet rollout (every board at the target)", command: command, notMeasured: "not measured: \(reason)"))
    }
    // An unknown subcommand's --help prints `fleet`'s help and succeeds: look for rollout's own usage line.
    guard let help = try? runProcess(tpudeploy, ["fleet", "rollout", "--help"]), help.contains("tpudeploy fleet rollout") else {
        return notMeasured("this build has no `tpudeploy fleet rollout` (being written on branch h-rollout, not merged here)")
    }
    let model = URL(fileURLWithPath: "build/sim-models/llama2-sim").standardizedFileURL
    // Each run's journal goes to $XDG_STATE_HOME/tpudeploy/runs: here, not in the user's home.
    let environment = ["XDG_STATE_HOME": directory.appendingPathComponent("state").path]
    do {
        // The deployment every board gets, in the tpudeploy.yaml `sim up` wrote beside the inventory.
        try runProcess(tpudeploy, ["init", "--deployment", "llama2-sim", "--profile", "llama2-sim",
                                   "--bmodel", model.appendingPathComponent("llama2-sim.bmodel").path,
                                   "--tokenizer", model.appendingPathComponent("tokenizer.model").path], directory: directory)
        let first = try meteredRun(arguments, environment: environment, directory: directory, deadlineSeconds: 600,
                                   log: directory.appendingPathComponent("rollout-first.jsonl"))
        let reached = fleetSummaryCount(first.output, outcome: "ok") + fleetSummaryCount(first.output, outcome: "skipped")
        guard first.exitStatus == 0, reached == boards else {
            return notMeasured("the first rollout brought \(reached) of \(boards) boards to the target (exit \(first.exitStatus)); see \(directory.lastPathComponent)/rollout-first.jsonl: \(first.output.suffix(400))")
        }
        var skipRuns: [FleetBenchmarkResult.Run] = []
        for run in 0..<runs {
            let again = try meteredRun(arguments, environment: environment, directory: directory, deadlineSeconds: 600, interval: 0.05,
                                       log: directory.appendingPathComponent("rollout-skip-\(run).jsonl"))
            let skipped = fleetSummaryCount(again.output, outcome: "skipped")
            guard again.exitStatus == 0, skipped == boards else {
                return (.init(tool: "tpudeploy fleet rollout (first)", command: command, runs: [.init(first, boardsOK: reached)], boardsInFlight: boards),
                        .init(tool: "tpudeploy fleet rollout (every board at the target)", command: command,
                              notMeasured: "not measured: a second rollout skipped \(skipped) of \(boards) boards (exit \(again.exitStatus)): \(again.output.suffix(400))"))
            }
            skipRuns.append(.init(again, boardsOK: skipped))
        }
        return (.init(tool: "tpudeploy fleet rollout (first)", command: command, runs: [.init(first, boardsOK: reached)], boardsInFlight: boards),
                .init(tool: "tpudeploy fleet rollout (every board at the target)", command: command, runs: skipRuns, boardsInFlight: boards))
    } catch {
        return notMeasured("\(error)")
    }
}
