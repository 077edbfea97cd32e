import ArgumentParser
import Foundation
import TPUDeployKit

/// Opens a root shell on the board and runs `body` with the deployment's service manager.
private func withServiceManager<T>(_ target: TargetOptions, _ deployment: DeploymentOptions,
                                   _ body: (EngineServiceManager, EngineCommandContext) async throws -> T) async throws -> T {
    let context = try EngineCommandContext(target: target, deployment: deployment)
    let session = try await SSHSession.connect(to: context.engine.target, passwordProvider: target.passwordProvider)
    do {
        let root = try await RootShell.open(session, passwordProvider: target.passwordProvider)
        let payloads = (try? PayloadDirectory.locate()) ?? PayloadDirectory(directory: URL(fileURLWithPath: "Payloads"))
        let result = try await body(EngineServiceManager(root: root, payloads: payloads), context)
        await session.close()
        return result
    } catch {
        await session.close()
        throw error
    }
}

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
            let status = try await withServiceManager(target, deployment) { manager, context in
                try await manager.stop(context.engine.bareSpec)
            }
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
            let (report, fixMemoryCommand) = try await withServiceManager(target, deployment) { manager, context -> (Report, String?) in
                let service = try await manager.status(context.engine.bareSpec)
                var health: EngineHealth?
                var healthError: String?
                if service.state == .running {
                    do {
                        health = try await context.engine.withAPI(timeout: 10) { api, _ in try api.health() }
                    } catch {
                        healthError = "\(error)"
                    }
                }
                return (Report(deployment: context.engine.deployment.name, service: service, health: health, healthError: healthError),
                        context.fixMemoryCommand)
            }
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
            let (text, spec, board) = try await withServiceManager(target, deployment) { manager, context in
                let spec = context.engine.bareSpec
                return (try await manager.logs(spec, lines: lines), spec, context.engine.target.displayName)
            }
            if output.json {
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if lines.last == "" { lines.removeLast() }
                try printJSON(Report(deployment: spec.name, board: board, logFile: spec.logFile, lines: lines))
            } else {
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            }
        }
    }
}
