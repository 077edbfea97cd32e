import ArgumentParser
import Foundation
import TPUDeployKit

extension FleetCommand {
    struct Rollout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring every board to the deployment, serving and verified: inspect, fix-memory, reboot, push, launch, verify.",
            discussion: """
                The deployment is tpudeploy.yaml's (an engine API key from TPUDEPLOY_API_KEY or --api-key-file is installed by launch and sent by verify) (bmodel, tokenizer, model profile, remote_dir, port). Each board is inspected once; a board already at the target (the model fits its live heaps, the files match by sha256, the engine serves them and /health is ready) is skipped. Otherwise, in order: fix-memory --for-model when the model cannot load on its live heaps (each board's own layout: 12 and 16 GB boards differ), a reboot (waiting for a new boot id, at most --reboot-timeout), push (only what the board lacks, resumable), launch (waiting for /health at most --engine-timeout) and a short verify conversation.

                Order: the canary (--canary, default 1) alone; then, unless --yes, the run stops and asks to go on (without a terminal it refuses to start: pass --yes or --canary 0); then the batches (--batch as Ansible's serial), --parallel boards at once; of those, at most --max-transfers push from this host at once and at most --max-reboots change their boot image and reboot at once (both default to --parallel; a board waiting for a slot holds its session). --max-fail PCT is a failure budget over the whole run (failed, unreachable and not-back boards count); once exceeded no new board starts and the run ends "aborted". A failed canary stops the run too. A changed host key fails that board only.

                Ctrl-C: no new board or phase starts; phases in flight finish (a boot image being installed always does); a second Ctrl-C stops transfers (the boards keep what they acknowledged; the next run resumes). Exit 130.

                Every run is recorded in $XDG_STATE_HOME/tpudeploy/runs/RUN (default ~/.local/state/tpudeploy/runs): --resume RUN continues it (boards that ended ok are left alone, finished launches are not repeated); --only-failed RUN starts a new run over the boards that failed, were not reached or not started.

                Relaying: once a batch's boards are inspected and those that needed a new layout have it and are back from their reboot (the canary's too), the files the boards still standing lack go to them all at once through a relay chain (tpu-relay-agent on each board): this host sends each file about once a batch, each board forwards it to the next as it writes it, so each board's push then finds its files in place and sends nothing. A board refused for fit (no_layout_fits) or not back from its reboot receives nothing. A board the relay could not serve (or reaching no board before it) gets the files from its own push or from this host. --no-relay: each board's push sends from this host, as `tpudeploy push` does.

                --dry-run inspects every board (--parallel at once) and shows the batches, which boards would be skipped and why, the heaps each board would get, and the bytes to send (with relaying, about what this host sends); it changes nothing.

                Progress: when stderr is a terminal, a live view redrawn in place (a line per board in flight with its phase, progress and rate, a summary line; each failure printed above it as it happens); otherwise one line per phase a board starts or ends. Then a table of every board on stdout.

                --json prints JSON lines as they happen: tpudeploy.fleet-event/1 events, then one tpudeploy.fleet-summary/1 line (with --dry-run, one tpudeploy.fleet-dry-run/1 line). Exit status: 0 every board ok or skipped, 2 some failed (or not back), 3 some unreachable and none failed, 4 aborted by the failure budget or a failed canary, 130 interrupted, 1 the run could not start or was not confirmed after the canary.

                  tpudeploy fleet rollout -i boards.ini --dry-run
                  tpudeploy fleet rollout -i boards.ini --batch 1,5,20% --max-fail 10 --parallel 8 --yes
                  tpudeploy fleet rollout -i boards.ini --only-failed rollout-20261206T190000Z-3f9a --yes --json
                """)

        @OptionGroup var selection: SelectionOptions

        @Option(name: .long, help: "Boards done first, alone, before the go-ahead (0 for none).")
        var canary = 1

        @Option(name: .long, help: ArgumentHelp("Batch sizes after the canary: 5, 20% or 1,5,20% (the last repeats). Default: all the rest at once.", valueName: "spec"))
        var batch: String?

        @Option(name: .long, help: ArgumentHelp("Failed boards allowed over the run, as a percentage of its boards (exceeded → no new board starts, the run is aborted).", valueName: "pct"))
        var maxFail: String?

        @Option(name: .long, help: "Boards worked on at once within a batch.")
        var parallel = 16

        @Option(name: .long, help: ArgumentHelp("Of those, boards whose push sends files from this host at once (default: --parallel).", valueName: "n"))
        var maxTransfers: Int?

        @Option(name: .long, help: ArgumentHelp("Of those, boards changing their boot image and rebooting at once, from fix-memory to back up (default: --parallel).", valueName: "n"))
        var maxReboots: Int?

        @Flag(name: .long, help: "Inspect every board and show what the rollout would do; change nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Do not relay the files between a batch's boards: each board's push sends from this host.")
        var noRelay = false

        @Flag(name: .long, help: "Go on after the canary without asking (required when there is no terminal and there is a canary).")
        var yes = false

        @Option(name: .long, help: ArgumentHelp("Continue the run named RUN where it stopped.", valueName: "run"))
        var resume: String?

        @Option(name: .long, help: ArgumentHelp("A new run over the boards of RUN that failed, were not reached or not started.", valueName: "run"))
        var onlyFailed: String?

        @Option(name: .long, help: "Deployment name for hosts without tpudeploy_deployment (default: tpudeploy.yaml's); its files come from tpudeploy.yaml.")
        var deployment: String?

        @Option(name: .long, help: "Seconds a board may take to come back after its reboot.")
        var rebootTimeout = 300

        @Option(name: .long, help: "Seconds the engine may take to load the model and answer /health ready.")
        var engineTimeout = 300

        @Option(name: .long, help: "Seconds a transfer may go without an answer from the board before its link is taken for dead.")
        var stallTimeout = SSHTarget.defaultStallTimeout

        @Option(name: .long, help: "File holding the login/sudo password for every board (TPUDEPLOY_PASSWORD works too); read once.")
        var passwordFile: String?

        @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
        var profiles: String?

        @Option(name: .long, help: "Payloads directory (engine builds, service files; default: found beside the project or the executable).")
        var payloads: String?

        @OptionGroup var apiKey: APIKeyOptions

        @Flag(name: .long, help: "Print JSON lines as boards progress (tpudeploy.fleet-event/1), then a tpudeploy.fleet-summary/1 line.")
        var json = false

        func validate() throws {
            guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
            for (flag, cap) in [("--max-transfers", maxTransfers), ("--max-reboots", maxReboots)] where (cap ?? 1) < 1 {
                throw ValidationError("\(flag) must be at least 1")
            }
            if resume != nil, onlyFailed != nil { throw ValidationError("--resume and --only-failed name one run each: use one") }
            if dryRun, resume != nil { throw ValidationError("--dry-run plans a new run; it does not go with --resume") }
            for (flag, value) in [("--reboot-timeout", rebootTimeout), ("--engine-timeout", engineTimeout), ("--stall-timeout", stallTimeout)] where value < 1 {
                throw ValidationError("\(flag) must be at least 1 second")
            }
        }

        func run() async throws {
            var outcome: Int32 = 0
            try await reportingFailures(json: json) {
                outcome = try await rollout()
            }
            if outcome != 0 { throw ExitCode(outcome) }
        }

        /// The whole run; returns the exit status.
        private func rollout() async throws -> Int32 {
            let store = try ProfileStore.locate(explicit: profiles)
            let target = try resolveDeployment(store: store)
            var boards = try await selection.boards(deployment: deployment ?? target.reference.name)

            // Which run: a new one, the one to resume, or a new one over another's failures.
            var journal: RolloutJournal?
            var earlier: [String: RolloutJournal.BoardState] = [:]
            var run = FleetJSONLines.runID(command: "rollout")
            if let name = resume ?? onlyFailed {
                let previous = try RolloutJournal.open(run: name)
                let names = resume != nil ? previous.header.boards : previous.boardsToRetry()
                let known = Set(boards.map(\.name))
                let missing = names.filter { !known.contains($0) }
                guard missing.isEmpty else {
                    throw RolloutJournalError.boardsMissing(run: name, names: missing, inventory: selection.inventory)
                }
                let wanted = Set(names)
                boards = boards.filter { wanted.contains($0.name) }
                if resume != nil {
                    journal = previous
                    earlier = previous.states()
                    run = name
                } else if boards.isEmpty {
                    if json { try printJSON(["run": name, "message": "no board to retry"]) } else { print("run \(name): every board ended ok or skipped; nothing to retry") }
                    return 0
                }
            }
            let settings = RolloutSettings(
                canary: earlier.values.contains { $0.outcome == .ok || $0.outcome == .skipped } ? 0 : canary,
                batches: try batch.map(RolloutBatchSize.list(parsing:)) ?? [],
                maxFailPercent: try maxFail.map(FailureBudget.percent(parsing:)), parallel: parallel,
                maxTransfers: maxTransfers, maxReboots: maxReboots)
            let plan = try RolloutPlan(boards: boards, settings: settings)
            let asksAfterCanary = !yes && !dryRun && plan.batches.count > 1 && plan.batches.first?.isCanary == true
            if asksAfterCanary, isatty(STDIN_FILENO) != 1 {
                throw ValidationError("the rollout stops after the canary to ask whether to go on, and there is no terminal to ask on: pass --yes (or --canary 0)")
            }

            // Credentials once, before any board starts: nothing prompts while boards are in flight.
            var password: String?
            if ProcessInfo.processInfo.environment["TPUDEPLOY_PASSWORD"] != nil || passwordFile != nil {
                password = try PasswordSource(file: passwordFile).provider("")
            }
            let fixedPassword = password
            let provider: PasswordProvider = { _ in fixedPassword }
            var steps = LiveRolloutSteps(
                deployment: target, profiles: store, passwordProvider: provider, payloads: try PayloadDirectory.locate(explicit: payloads),
                deadlines: RolloutDeadlines(connectSeconds: selection.connectTimeout, transferStallSeconds: stallTimeout,
                                            rebootSeconds: rebootTimeout, engineHealthSeconds: engineTimeout))
            steps.apiKey = try apiKey.key()
            if !noRelay {
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
                steps.relay = RolloutRelay(agent: .beside(executable: executable, payloadsDirectory: steps.payloads.directory.path))
            }
            let control = RolloutControl()
            // The live view follows boards through their phases; a dry run only inspects, one line a board.
            let display = RolloutDisplay(json: json, interactive: !dryRun && standardErrorIsTerminal)

            if dryRun {
                let runner = RolloutRunner(plan: plan, steps: steps, control: control)
                let inspections = await watchingInterrupts(control, display) {
                    await runner.survey(run: run, onEvent: display.show)
                }
                display.finish()
                let report = RolloutDryRun(run: run, plan: plan, inspections: inspections, relay: !noRelay)
                if json { display.line(try FleetJSONLines.line(report)) } else { print(FleetText.dryRun(report)) }
                return control.isStopping ? 130 : report.exitCode
            }

            if journal == nil {
                journal = try RolloutJournal.create(.init(
                    run: run, started: ISO8601DateFormatter().string(from: Date()),
                    inventory: URL(fileURLWithPath: selection.inventory).standardizedFileURL.path, limit: selection.limit,
                    boards: plan.batches.flatMap(\.boards).map(\.name)))
            }
            var runner = RolloutRunner(plan: plan, steps: steps, control: control, journal: journal)
            runner.earlier = earlier
            let boardCount = boards.count
            if asksAfterCanary { runner.approveCanary = { results in await display.askToGoOn(after: results, remaining: boardCount - results.count) } }
            display.started(run: run, plan: plan, journal: journal?.directory.path)
            let summary = await watchingInterrupts(control, display) {
                await runner.run(run: run, onEvent: display.show)
            }
            display.finish()
            if json {
                display.line(try FleetJSONLines.line(summary))
            } else {
                print(FleetText.rollout(summary))
                if summary.exitCode != 0, let path = journal?.directory.path {
                    print("journal: \(path); continue with --resume \(run), or retry what did not end well with --only-failed \(run)")
                }
            }
            return summary.exitCode
        }

        /// Runs `body` with Ctrl-C handled: the first stops new boards and phases, the second transfers, the third exits.
        private func watchingInterrupts<T>(_ control: RolloutControl, _ display: RolloutDisplay, _ body: () async -> T) async -> T {
            await handlingInterrupts({
                let presses = control.interrupt()
                switch presses {
                case 1: display.note("interrupted: no new board or phase starts; the phases in flight finish (Ctrl-C again to stop transfers too)")
                case 2: display.note("interrupted again: stopping transfers (the boards keep what they have; the next run resumes); Ctrl-C once more to exit at once")
                default: _exit(130)
                }
            }, body)
        }

        /// tpudeploy.yaml's deployment with its local files and model, resolved once for the run.
        private func resolveDeployment(store: ProfileStore) throws -> RolloutDeployment {
            let configPath = selection.config
            let config = try ProjectConfig.load(from: configPath)
            guard let settings = config?.deployment else {
                throw ValidationError("\(configPath) has no deployment: section to roll out (tpudeploy init --deployment NAME --bmodel … --tokenizer … writes one)")
            }
            if let deployment, deployment != settings.name {
                throw ValidationError("--deployment \(deployment): \(configPath) describes the files of deployment \(settings.name) only")
            }
            let base = (configPath as NSString).deletingLastPathComponent
            func local(_ path: String) -> String { path.hasPrefix("/") || base.isEmpty ? path : (base as NSString).appendingPathComponent(path) }
            let engine: EngineSource
            if let path = settings.engine {
                engine = .file(local(path))
            } else {
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                let payloads = (try? PayloadDirectory.locate(explicit: payloads))?.directory.path ?? "Payloads"
                engine = .builds(payloadsDirectory: payloads, nativeBuild: executable.deletingLastPathComponent().appendingPathComponent("tpu-llm-engine").path,
                                 hostArch: EngineSource.hostArch)
            }
            let reference = try DeploymentReference.resolve(config: config, configPath: configPath, name: nil, remoteDir: nil, port: nil,
                                                             profileName: nil, profiles: store)
            return try RolloutDeployment(reference: reference, bmodel: local(settings.bmodel), tokenizer: local(settings.tokenizer), engine: engine)
        }
    }
}
