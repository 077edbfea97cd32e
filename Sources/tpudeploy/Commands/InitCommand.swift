import ArgumentParser
import Foundation
import TPUDeployKit

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write tpudeploy.yaml naming the board this directory deploys to.",
        discussion: """
            Every other command reads the board from ./tpudeploy.yaml, so it is named once. A deployment is checked as later commands check it (a plain name, an absolute --remote-dir, a TCP port) and its --bmodel and --tokenizer must exist (relative paths are read from the file's directory, as push reads them). Nothing is contacted; run `tpudeploy inspect --accept-new-host-key` next to trust the board's host key.

              tpudeploy init --host 192.0.2.10 --user linaro --board 1684x_evb
              tpudeploy init --host 192.0.2.10 --deployment chatglm2 --profile chatglm2-6b --bmodel chatglm2-6b.bmodel --tokenizer tokenizer.model
            """
    )

    @Option(name: .long, help: "Board address (name or IP). Without it, --deployment updates the existing file's deployment.")
    var host: String?

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

    @Option(name: .long, help: "Name of the deployment (with --bmodel and --tokenizer): its directory and service on the board. ASCII letters, digits, - _ . (starting with a letter or digit).")
    var deployment: String?

    @Option(name: .long, help: "Model profile from Profiles/models (e.g. chatglm2-6b); omit for a custom model.")
    var profile: String?

    @Option(name: .long, help: "Local path of the bmodel.")
    var bmodel: String?

    @Option(name: .long, help: "Local path of the tokenizer (tokenizer.model).")
    var tokenizer: String?

    @Option(name: .long, help: "Where the deployment lives on the board (default /data/tpudeploy/NAME): absolute; ASCII letters, digits and / . _ - + only.")
    var remoteDir: String?

    @Option(name: .long, help: "The engine's port on the board's 127.0.0.1.")
    var enginePort: Int = DeploymentSettings.defaultPort

    @Option(name: .long, help: "File to write.")
    var config: String = ProjectConfig.defaultFileName

    @Flag(name: .long, help: "Replace an existing file.")
    var force = false

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let existing = try ProjectConfig.load(from: config, mustExist: false)
            var deploymentSettings: DeploymentSettings?
            if let deployment {
                guard let bmodel, let tokenizer else { throw ValidationError("--deployment needs --bmodel PATH and --tokenizer PATH") }
                let directory = try remoteDir.map { try BoardNames.validatedDirectory($0, source: "--remote-dir") }
                let settings = DeploymentSettings(name: deployment, model: profile, bmodel: bmodel, tokenizer: tokenizer,
                                                  remoteDir: directory, port: enginePort)
                try settings.validateForInit(configFile: config)
                if let profile { _ = try ProfileStore.locate().model(named: profile) }
                deploymentSettings = settings
            } else if profile != nil || bmodel != nil || tokenizer != nil || remoteDir != nil {
                throw ValidationError("--profile, --bmodel, --tokenizer and --remote-dir describe a deployment: name it with --deployment NAME")
            }
            guard let host else {
                // No board named: set the deployment of the project file that already names one.
                guard let deploymentSettings else {
                    throw ValidationError("name the board with --host ADDRESS (or a deployment with --deployment NAME --bmodel … --tokenizer …)")
                }
                // Without a board (none in the file either) the file serves fleet commands, whose boards come
                // from an inventory; single-board commands will ask for --host.
                let target = existing?.target
                try ProjectConfig(target: target, deployment: deploymentSettings, file: config)
                    .write(header: "tpudeploy project file, written by `tpudeploy init`. Flags on the command line override it.")
                if output.json {
                    try printJSON(["written": config, "deployment": deploymentSettings.name])
                } else if target?.host == nil {
                    print("wrote \(config): deployment \(deploymentSettings.name) (\(deploymentSettings.remoteDir) on the board), no board: `tpudeploy fleet rollout -i INVENTORY` takes the boards from an inventory; single-board commands need --host ADDRESS")
                } else {
                    print("wrote \(config): deployment \(deploymentSettings.name) (\(deploymentSettings.remoteDir) on the board); next: tpudeploy push")
                }
                return
            }
            if existing != nil, !force {
                throw ValidationError("\(config) exists; pass --force to replace it (or leave out --host to set only its deployment).")
            }
            // The same checks every later command makes on the file's host: init never writes one they refuse.
            try TargetOverrides.checkHost(host, source: "--host")
            if let port, !(1...65535).contains(port) { throw TargetError.invalidPort(port) }
            if let board { _ = try ProfileStore.locate().board(named: board) }
            let settings = TargetSettings(
                host: host, port: port, user: user, identity: identity, knownHosts: knownHosts, board: board)
            let project = ProjectConfig(target: settings, deployment: deploymentSettings, file: config)
            try project.write(header: "tpudeploy project file, written by `tpudeploy init`. Flags on the command line override it.")
            if output.json {
                try printJSON(["written": config, "host": host])
            } else {
                print("wrote \(config): board \(host)\(board.map { " (\($0))" } ?? "")")
            }
        }
    }
}
