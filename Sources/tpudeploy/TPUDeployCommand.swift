import ArgumentParser
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
}
