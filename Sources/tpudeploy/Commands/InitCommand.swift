import ArgumentParser
import Foundation
import TPUDeployKit

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write tpudeploy.yaml naming the board this directory deploys to.",
        discussion: """
            Every other command reads the board from ./tpudeploy.yaml, so it is named once. Nothing is contacted; run `tpudeploy inspect --accept-new-host-key` next to trust the board's host key.

              tpudeploy init --host 192.0.2.10 --user linaro --board 1684x_evb
            """
    )

    @Option(name: .long, help: "Board address (name or IP).")
    var host: String

    @Option(name: .long, help: "SSH port.")
    var port: Int?

    @Option(name: .long, help: "Login user (vendor images: linaro).")
    var user: String?

    @Option(name: .long, help: "Private key to log in with.")
    var identity: String?

    @Option(name: .long, help: "known_hosts file for this board.")
    var knownHosts: String?

    @Option(name: .long, help: "Board profile from Profiles/boards (e.g. 1684x_evb).")
    var board: String?

    @Option(name: .long, help: "File to write.")
    var config: String = ProjectConfig.defaultFileName

    @Flag(name: .long, help: "Replace an existing file.")
    var force = false

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            if FileManager.default.fileExists(atPath: config), !force {
                throw ValidationError("\(config) exists; pass --force to replace it.")
            }
            if let port, !(1...65535).contains(port) { throw TargetError.invalidPort(port) }
            if let board { _ = try ProfileStore.locate().board(named: board) }
            let settings = TargetSettings(
                host: host, port: port, user: user, identity: identity, knownHosts: knownHosts, board: board)
            let project = ProjectConfig(target: settings, file: config)
            try project.write(header: "tpudeploy project file, written by `tpudeploy init`. Flags on the command line override it.")
            if output.json {
                try printJSON(["written": config, "host": host])
            } else {
                print("wrote \(config): board \(host)\(board.map { " (\($0))" } ?? "")")
            }
        }
    }
}
