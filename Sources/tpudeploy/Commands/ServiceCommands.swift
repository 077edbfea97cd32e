import ArgumentParser
import Foundation
import TPUDeployKit

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop the deployment's engine on the board and keep it from starting at boot (`launch` starts it again).",
        discussion: "Fails (exit 1) when the board has no such deployment: no service of that name and nothing pushed to its directory.")

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let status = try await context.withBoard { board in try await EngineStopper().stop(board) }
            if output.json { try printJSON(status) } else { print("stopped (\(status.manager ?? "no service manager"))") }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether the deployment's engine runs, and what its /health says.",
        discussion: "Exits 0 when the engine is ready, 1 otherwise.")

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var schema = "tpudeploy.status/1"
        var deployment: String
        var service: ServiceStatus
        var health: EngineHealth?
        var healthError: String?
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let status = try await context.withBoard { board in (try await EngineStatusCheck().check(board), board.fixMemoryCommand) }
            let (result, fixMemoryCommand) = status
            let report = Report(deployment: result.deployment, service: result.service, health: result.health, healthError: result.healthError)
            if output.json {
                try printJSON(report)
            } else {
                var line = "\(report.deployment): \(report.service.state.rawValue)"
                if let manager = report.service.manager { line += " (\(manager)" + (report.service.pid.map { ", pid \($0)" } ?? "") + (report.service.restarts.map { ", \($0) restarts" } ?? "") + ")" }
                if let health = report.health {
                    line += "; engine \(health.status.rawValue)" + (health.reason.map { ": \($0)" } ?? "")
                    if let advice = health.fixMemoryAdvice(fixMemoryCommand) { line += "; " + advice }
                } else if let error = report.healthError {
                    line += "; no answer from the engine: \(error)"
                }
                print(line)
            }
            if report.health?.status != .ready { throw ExitCode(1) }
        }
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the last lines of the deployment's engine log from the board.",
        discussion: "With --json: {schema: tpudeploy.logs/1, deployment, board, log_file, lines: [...]} (docs/json-schemas.md).")

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    @Option(name: [.customShort("n"), .customLong("lines")], help: "How many lines.")
    var lines = 100

    struct Report: Encodable {
        var schema = "tpudeploy.logs/1"
        var deployment: String
        var board: String
        var logFile: String
        var lines: [String]
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let log = try await context.withBoard { board in try await EngineLogReader(lines: lines).read(board) }
            if output.json {
                try printJSON(Report(deployment: log.deployment, board: log.board, logFile: log.logFile, lines: log.lines))
            } else {
                print(log.text, terminator: log.text.hasSuffix("\n") ? "" : "\n")
            }
        }
    }
}
