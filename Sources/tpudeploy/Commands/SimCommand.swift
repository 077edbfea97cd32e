import ArgumentParser
import Foundation
import TPUDeployKit
import TPUDeploySimulator

struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Simulated BM1684X boards built from real parts (needs root).",
        discussion: """
            Each simulated board is a real OpenSSH server in its own network, mount, pid and UTS namespace, with its own /boot (a real FIT emmcboot.itb built by U-Boot's mkimage), /data, /opt/sophon, bm-smi and reboot. A reboot boots the board from /boot/emmcboot.itb, checked with U-Boot's own dumpimage and fdtget; an image that fails the check leaves the board bricked, like a real one.

              tpudeploy sim up        one EVB (16 GB, factory layout), writes tpudeploy.yaml
              tpudeploy inspect       then talk to it like a real board
              tpudeploy sim link sim-evb-1 --rate-mbit 100    its Ethernet port as a 100 Mbit/s one
              tpudeploy sim down      stop it
            """,
        subcommands: [Up.self, Down.self, List.self, Reboot.self, Link.self]
    )

    struct StateOptions: ParsableArguments {
        @Option(name: .long, help: "Where the simulator keeps its boards (default /var/lib/tpudeploy-sim or $TPUDEPLOY_SIM_DIR).")
        var stateDir: String?

        var simulator: Simulator {
            stateDir.map { Simulator(stateDirectory: URL(fileURLWithPath: $0)) } ?? Simulator()
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start simulated boards and point ./tpudeploy.yaml at the first one.")

        @Option(name: .long, help: "How many boards to start.")
        var boards = 1

        @Option(name: .long, help: "DDR size: 12g or 16g (default: the board profile's largest).")
        var ram: String?

        @Option(name: .long, help: "Board profile from Profiles/boards (1684x_evb, se7, se7_v2, airbox, sm7m, …): the board boots that profile's dtb with its factory layout.")
        var board = "1684x_evb"

        @Option(name: .long, help: ArgumentHelp(
            "libsophon release the boards run, with its bmtpu driver and kernel: \(SimulatedSoCImage.releases.map(\.libsophon).joined(separator: ", ")).",
            discussion: "0.4.9 (default) is the 2023 image of the vendor's LLM guides, which inspect calls too old for LLM-TPU bmodels; 0.5.1 is a 2024 image."))
        var libsophon = SimulatedSoCImage.defaultLibsophon

        @Option(name: .long, help: "Seconds a simulated reboot takes before SSH answers again.")
        var bootDelay: Double = 2

        @Option(name: .long, help: "Size of the board's /boot partition in MiB.")
        var bootPartitionMib = 128

        @Option(name: .long, help: "Size of the board's /data partition in MiB (models and engines go there).")
        var dataPartitionMib = 4096

        @Flag(name: .long, help: "Do not write ./tpudeploy.yaml.")
        var noConfig = false

        @Option(name: .long, help: "Project file to write.")
        var config: String = ProjectConfig.defaultFileName

        @Option(name: .long, help: "Also write an Ansible INI inventory of the boards started, for `tpudeploy fleet` (with the tpudeploy.yaml written beside it).")
        var inventory: String?

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                guard boards >= 1 else { throw ValidationError("--boards must be at least 1") }
                let profile = try ProfileStore.locate().board(named: board)
                guard profile.factoryLayout != nil else {
                    throw ValidationError("board \(board) has no simulated board: its factory layout is not known (\(profile.sourceFile))")
                }
                let ramName = ram ?? profile.ramSizes.sorted().last ?? "16g"
                guard profile.ramSizes.contains(ramName), let simulatedRAM = SimulatedRAM(rawValue: ramName) else {
                    throw ValidationError("board \(board) comes with \(profile.ramSizes.joined(separator: " or ")) of DDR, not \(ramName)")
                }
                var options = SimulatorOptions()
                options.boards = boards
                options.ram = simulatedRAM
                options.dtbName = DTBName.baseName(profile.dtbFileNames[0])
                options.bootDelay = bootDelay
                options.libsophonVersion = libsophon
                options.bootPartitionMiB = bootPartitionMib
                options.dataPartitionMiB = dataPartitionMib
                options.namePrefix = board.replacingOccurrences(of: "1684x_", with: "").replacingOccurrences(of: "_", with: "")
                let started = try state.simulator.up(options)
                if !noConfig, let first = started.first {
                    let settings = TargetSettings(
                        host: first.host, port: first.port == 22 ? nil : first.port, user: "root",
                        identity: first.identityFile, knownHosts: first.knownHostsFile, board: board)
                    try ProjectConfig(target: settings, file: config).write(
                        header: "Written by `tpudeploy sim up` for the simulated board \(first.name).\nThe linaro user's password is '\(first.linaroPassword)'.")
                }
                if let inventory {
                    let hosts = started.map {
                        INIInventoryWriter.Host(name: $0.name, variables: [
                            ("ansible_host", $0.host), ("ansible_port", String($0.port)), ("tpudeploy_board", board)])
                    }
                    let comment = "Written by `tpudeploy sim up` for the simulated boards it started. Logins (root, the simulator's key\nand known_hosts) come from \(noConfig ? "your tpudeploy.yaml" : config)."
                    try INIInventoryWriter.text(group: "sim", hosts: hosts, comment: comment).write(toFile: inventory, atomically: true, encoding: .utf8)
                }
                if output.json {
                    try printJSON(started)
                } else {
                    for board in started {
                        print("\(board.name)  \(board.host)  \(board.ram.rawValue)  \(board.dtbName).dtb  host key \(board.hostKeyFingerprint)")
                    }
                    if !noConfig, let first = started.first {
                        print("wrote \(config) for \(first.name) (root, key \(first.identityFile)); try: tpudeploy inspect")
                    }
                    if let inventory { print("wrote \(inventory) for \(started.count) board\(started.count == 1 ? "" : "s"); try: tpudeploy fleet inspect --inventory \(inventory)") }
                }
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop simulated boards (all of them when none is named).")

        @Argument(help: "Board names, as `sim list` shows them.")
        var names: [String] = []

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let stopped = try state.simulator.down(names: names.isEmpty ? nil : names)
                if output.json {
                    try printJSON(["stopped": stopped])
                } else {
                    print(stopped.isEmpty ? "no simulated boards in \(state.simulator.stateDirectory.path): nothing to stop" : "stopped \(stopped.joined(separator: ", "))")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List simulated boards and whether they are up, booting or bricked.")

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let boards = try state.simulator.list()
                if output.json {
                    try printJSON(boards)
                } else if boards.isEmpty {
                    print("no simulated boards; start one with `tpudeploy sim up`")
                } else {
                    for entry in boards {
                        print("\(entry.board.name)  \(entry.board.host)  \(entry.board.ram.rawValue)  \(entry.state)")
                    }
                }
            }
        }
    }

    struct Reboot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Power-cycle a simulated board from the host, as pulling its plug would.",
            discussion: "The board boots from its /boot/emmcboot.itb again; a bricked board whose image was put right comes back this way.")

        @Argument(help: "Board name, as `sim list` shows it.")
        var name: String

        @Option(name: .long, help: "Seconds to wait for SSH to answer again.")
        var timeout: Double = 120

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let simulator = state.simulator
                try simulator.reboot(name)
                try simulator.waitUntilUp(name, timeout: timeout)
                let heaps = try simulator.liveHeaps(of: name)
                if output.json {
                    try printJSON(["board": name, "state": "up"])
                } else {
                    print("\(name) is up: \(MemoryLayoutText.heaps(heaps))")
                }
            }
        }
    }

    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Limit a simulated board's link to the rate of a real Ethernet port, lift the limit, or cut the cable.",
            discussion: """
                A token bucket (tc tbf) on both ends of the board's virtual cable, in both directions, with a switch-sized queue. \
                It lasts until the limit is lifted or the board is started anew. To watch push over a realistic link:

                  tpudeploy sim link sim-evb-1 --rate-mbit 100
                  tpudeploy push
                  tpudeploy sim link sim-evb-1 --unlimited

                --cut takes the host end of the board's cable down: packets vanish and nothing is reset, as with a cable \
                pulled out of a switch, so a command in progress sees only silence and gives up after its stall limit \
                (--stall-timeout, 120 s by default). --restore plugs it back in.
                """)

        @Argument(help: "Board name, as `sim list` shows it.")
        var name: String

        @Option(name: .long, help: "Megabits per second, 1…100000 (100 and 1000 are the boards' ports).")
        var rateMbit: Int?

        @Flag(name: .long, help: "Lift the limit.")
        var unlimited = false

        @Flag(name: .long, help: "Cut the board's cable: every packet is lost, nothing is reset.")
        var cut = false

        @Flag(name: .long, help: "Plug the cable back in after --cut.")
        var restore = false

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            let chosen = [rateMbit != nil, unlimited, cut, restore].filter { $0 }.count
            guard chosen == 1 else { throw ValidationError("give one of --rate-mbit N, --unlimited, --cut or --restore") }
        }

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let simulator = state.simulator
                if cut || restore {
                    try cut ? simulator.cutLink(of: name) : simulator.restoreLink(of: name)
                    if output.json {
                        try printJSON(CableReport(board: name, connected: restore))
                    } else {
                        print(cut ? "\(name): cable cut (packets are lost; `sim link \(name) --restore` plugs it back)" : "\(name): cable plugged back in")
                    }
                    return
                }
                try simulator.shapeLink(of: name, rateMbit: unlimited ? nil : rateMbit)
                if output.json {
                    try printJSON(LinkReport(board: name, rateMbit: unlimited ? nil : rateMbit))
                } else {
                    print(unlimited ? "\(name): link unlimited" : "\(name): link limited to \(rateMbit!) Mbit/s each way")
                }
            }
        }

        private struct LinkReport: Encodable {
            var board: String
            var rateMbit: Int?
            enum CodingKeys: String, CodingKey { case board, rateMbit = "rate_mbit" }
            func encode(to encoder: Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(board, forKey: .board)
                try container.encode(rateMbit, forKey: .rateMbit)
            }
        }

        private struct CableReport: Encodable {
            var board: String
            var connected: Bool
        }
    }
}
