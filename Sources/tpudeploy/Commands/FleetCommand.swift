import ArgumentParser
import Foundation
import TPUDeployKit

struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Many boards at once, named by an Ansible inventory (INI, YAML or an executable).",
        discussion: """
            The inventory is read as Ansible reads it: groups, children, [group:vars], ranges such as evb[01:50], ansible_host, ansible_port, ansible_user and ansible_ssh_private_key_file; tpudeploy_board and tpudeploy_deployment per host or group. What it leaves out (user, key, known_hosts, ssh_config) comes from tpudeploy.yaml's target section. See docs/fleet.md.

              tpudeploy sim up --boards 3 --inventory boards.ini
              tpudeploy fleet inspect --inventory boards.ini
              tpudeploy fleet inspect -i boards.ini --limit 'lab:!evb02' --json
              tpudeploy fleet plan -i boards.ini --batch 1,5,20% --max-fail 10
              tpudeploy fleet rollout -i boards.ini --batch 20% --max-fail 10 --yes
            """,
        subcommands: [Inspect.self, Plan.self, Rollout.self]
    )

    /// Which boards: the inventory and `--limit`.
    struct SelectionOptions: ParsableArguments {
        @Option(name: [.short, .long], help: "Ansible inventory: an INI file, a .yml/.yaml/.json file, or an executable printing Ansible's --list JSON.")
        var inventory: String

        @Option(name: [.short, .long], help: ArgumentHelp(
            "Ansible host pattern: group, host, a:b (either), a:&b (both), a:!b (not b), evb0*, ~regex, lab[0:4], @file of host names.",
            valueName: "pattern"))
        var limit: String?

        @Option(name: .long, help: "Project file: connection settings the inventory leaves out (target: user, identity, known_hosts, ssh_config; no host needed) and the deployment.")
        var config: String = ProjectConfig.defaultFileName

        @Option(name: .long, help: "Login user for hosts without ansible_user (over tpudeploy.yaml).")
        var user: String?

        @Option(name: .long, help: "Private key for hosts without ansible_ssh_private_key_file (over tpudeploy.yaml).")
        var identity: String?

        @Option(name: .long, help: "known_hosts file to check every board's host key against (default: tpudeploy.yaml, else ~/.ssh/known_hosts).")
        var knownHosts: String?

        @Option(name: .long, help: "OpenSSH client config to honour (default ~/.ssh/config; 'none' to ignore).")
        var sshConfig: String?

        @Option(name: .long, help: "Seconds to wait for each board to answer.")
        var connectTimeout: Int = 10

        @Flag(name: .long, help: "Trust and record the host key of boards seen for the first time. A changed key always fails that board.")
        var acceptNewHostKey = false

        /// The selected boards, in inventory order, with warnings printed to stderr.
        func boards(deployment: String? = nil) async throws -> [FleetBoard] {
            let inventory = try await InventoryLoader().load(self.inventory)
            let (hosts, limitWarnings) = try limit.map { try HostLimit($0).select(from: inventory) } ?? (inventory.hostNames, [])
            for warning in inventory.warnings + limitWarnings {
                FileHandle.standardError.write(Data("tpudeploy: warning: \(warning)\n".utf8))
            }
            let defaults = FleetDefaults(
                config: try ProjectConfig.load(from: config), user: user, identity: identity, knownHosts: knownHosts,
                sshConfig: sshConfig, connectTimeout: connectTimeout, acceptNewHostKey: acceptNewHostKey, deployment: deployment)
            let boards = try inventory.boards(hosts, defaults: defaults)
            guard !boards.isEmpty else { throw InventoryError(.noHostsSelected, file: inventory.source, "the inventory names no host") }
            // The boards share one SSH configuration: what a project file's copy leaves out is said once.
            for warning in try boards[0].target.sshConfigWarnings() {
                FileHandle.standardError.write(Data("tpudeploy: warning: \(warning)\n".utf8))
            }
            return boards
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every board's facts in one table: reachable, profile, dtb, DDR, heaps live/configured, deployed model, engine state.",
            discussion: """
                Boards are inspected in parallel (--parallel at once) with the same probe as `tpudeploy inspect`, and one more round trip for the board's deployment (tpudeploy_deployment, else tpudeploy.yaml's): BMODEL is what its directory holds by push's manifest; ENGINE is the state of the engine started from that directory, whose /health the board asks itself (curl or wget, at most 5 s): ready, loading, failed, no answer, running (the board cannot ask), stopped; "(old files)" when it started before the files last changed. The hosts come from the inventory, so tpudeploy.yaml needs no target.host (its user, identity and known_hosts are used for every board). A board that cannot be reached, or whose host key changed or is unknown, is that board's outcome, with a stable error code; the others are still reported. Passwords come from TPUDEPLOY_PASSWORD or --password-file, read once before any board starts: nothing is asked during the run.

                --json prints JSON lines as they happen: tpudeploy.fleet-event/1 events (each board's connect, inspect and done, the full inspect report in done), then one tpudeploy.fleet-summary/1 line (docs/json-schemas.md).

                Exit status: 0 every board inspected, 2 some failed (host key, login, probe), 3 some unreachable and none failed, 1 the run could not start (inventory, --limit).

                  tpudeploy fleet inspect -i boards.ini
                  tpudeploy fleet inspect -i lab.yml --limit 'se7:&rack2' --parallel 64 --connect-timeout 5
                  tpudeploy fleet inspect -i ./inventory.py --limit @failed.txt --json | jq -c 'select(.error)'
                """)

        @OptionGroup var selection: SelectionOptions

        @Option(name: .long, help: "Boards inspected at once.")
        var parallel = 16

        @Flag(name: .long, help: "Also check every hash of each board's boot image (reads the whole image from each board).")
        var checkBootImage = false

        @Option(name: .long, help: "File holding the login/sudo password for every board (TPUDEPLOY_PASSWORD works too); read once.")
        var passwordFile: String?

        @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
        var profiles: String?

        @Flag(name: .long, help: "Print JSON lines as boards progress (tpudeploy.fleet-event/1), then a tpudeploy.fleet-summary/1 line, instead of a table.")
        var json = false

        func validate() throws {
            guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        }

        func run() async throws {
            var result: FleetSummary?
            try await reportingFailures(json: json) {
                let boards = try await selection.boards()
                // Read once, here: a board asking later gets this or nothing, never a prompt.
                var password: String?
                if ProcessInfo.processInfo.environment["TPUDEPLOY_PASSWORD"] != nil || passwordFile != nil {
                    password = try PasswordSource(file: passwordFile).provider("")
                }
                let fixedPassword = password
                let provider: PasswordProvider = { _ in fixedPassword }
                var inspector = BoardInspector(profiles: try? ProfileStore.locate(explicit: profiles), passwordProvider: provider)
                inspector.checksBootImage = checkBootImage
                let fleet = FleetInspector(inspector: inspector, parallel: parallel, passwordProvider: provider)
                let json = self.json
                let progress = !json && standardErrorIsTerminal
                let total = boards.count
                let finished = Counter()
                result = await fleet.run(boards, run: FleetJSONLines.runID(command: "inspect")) { event in
                    if json {
                        // One write per line, unbuffered: a reader sees each event as it happens.
                        if let line = try? FleetJSONLines.line(event) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
                    } else if event.phase == .done || event.error != nil {
                        if let error = event.error, !progress {
                            FileHandle.standardError.write(Data("tpudeploy: \(event.board): \(error.message)\n".utf8))
                        }
                        if progress { FileHandle.standardError.write(Data("\r\u{1B}[Kinspected \(finished.increment())/\(total)".utf8)) }
                    }
                }
                if progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            }
            guard let summary = result else { return }
            if json {
                FileHandle.standardOutput.write(Data((try FleetJSONLines.line(summary) + "\n").utf8))
            } else {
                print(FleetText.inspection(summary))
            }
            if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
        }
    }

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The order a rollout would take the boards in: canary, batches, failure budget. Contacts no board.",
            discussion: """
                --batch takes Ansible's serial values: a number of boards (5), a share of all the run's boards (20%, rounded down, at least one), or a list (1,5,20%) whose last value repeats; a batch never holds more than the boards left, so none is empty. The canary comes first, alone. --max-fail PCT is counted over the whole run: with 10 boards and 20%, 2 failed boards are allowed and the 3rd stops the run from starting new boards.

                  tpudeploy fleet plan -i boards.ini --batch 1,5,20% --max-fail 10 --parallel 8
                """)

        @OptionGroup var selection: SelectionOptions

        @Option(name: .long, help: "Boards done first, alone (0 for none).")
        var canary = 1

        @Option(name: .long, help: ArgumentHelp("Batch sizes after the canary: 5, 20% or 1,5,20% (the last repeats). Default: all the rest at once.", valueName: "spec"))
        var batch: String?

        @Option(name: .long, help: ArgumentHelp("Failed boards allowed over the run, as a percentage of its boards (exceeded → no new board starts).", valueName: "pct"))
        var maxFail: String?

        @Option(name: .long, help: "Boards worked on at once within a batch.")
        var parallel = 16

        @Option(name: .long, help: "Deployment name for hosts without tpudeploy_deployment (default: tpudeploy.yaml's).")
        var deployment: String?

        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let settings = RolloutSettings(
                    canary: canary, batches: try batch.map(RolloutBatchSize.list(parsing:)) ?? [],
                    maxFailPercent: try maxFail.map(FailureBudget.percent(parsing:)), parallel: parallel)
                let plan = try RolloutPlan(boards: try await selection.boards(deployment: deployment), settings: settings)
                if output.json { try printJSON(plan) } else { print(FleetText.plan(plan)) }
            }
        }
    }
}

/// Boards finished so far, counted from whichever task reports one.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
}
