import ArgumentParser
import Foundation
import TPUDeployKit

@main
struct TPUDeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tpudeploy",
        abstract: "Provision Sophgo BM1684X boards for on-device LLMs, deploy a model, and serve it.",
        discussion: """
            Name a board once with `tpudeploy init --host ADDRESS` (or start a simulated one with `tpudeploy sim up`), then look at it with `tpudeploy inspect`. Every command accepts --json for scripts and reads the board from ./tpudeploy.yaml unless --host is given.

            \(ResourceLocator.searchOrder)
            """,
        version: ToolVersion.number,
        subcommands: [InspectCommand.self, FixMemoryCommand.self, PushCommand.self, LaunchCommand.self, StatusCommand.self, StopCommand.self,
                      LogsCommand.self, VerifyCommand.self, ChatCommand.self, ForwardCommand.self, LayoutCommand.self, InitCommand.self, FleetCommand.self, SimCommand.self,
                      VersionCommand.self]
    )

    /// As ArgumentParser's own, except that with --json a command line it refuses (an unknown flag, a value out of
    /// range) is also one JSON line on standard output, `{"code": "invalid_argument", "error"}`, like every other
    /// failure: a script reading the output never gets only usage text. The exit status stays ArgumentParser's (64).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // Commands report their own failures and throw ExitCode; CleanExit is --help or --version.
            if arguments.contains("--json"), !(error is ExitCode), !(error is CleanExit), exitCode(for: error) != .success {
                let object = ["code": "invalid_argument", "error": message(for: error)]
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                    print(String(decoding: data, as: UTF8.self))
                }
            }
            exit(withError: error)
        }
    }
}
