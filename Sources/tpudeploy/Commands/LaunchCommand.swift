import ArgumentParser
import Foundation
import TPUDeployKit

struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Start the pushed model's engine on the board as a service and wait until it serves.",
        discussion: """
            Installs tpu-llm-engine as a systemd service where systemd runs, else under tpudeploy's supervisor (/usr/local/sbin/tpu-llm-supervise, root-owned, started again at boot from /etc/rc.local); either way it restarts after a crash. The engine runs as the login user; for root, only when no other user can change the engine file or a directory above it (else as the one user who can, or not at all: launch says why). An engine that exits before it answers (a crash loop) is reported within seconds with its last log lines; whenever the launch fails (crash loop, load failure, timeout) the service is stopped and not started at boot. Waits for the engine's /health through an SSH port forward and reports the model load time. Launching again restarts the engine with the current settings.

              tpudeploy launch
              tpudeploy launch --timeout 600 --json
              tpudeploy launch --api-key-file key.txt     # the API then wants 'Authorization: Bearer KEY'

            With an API key (TPUDEPLOY_API_KEY or --api-key-file FILE, never a flag's value), the key is written to service/api-key in the deployment directory (mode 0600, owned by the engine's user) through the command's standard input, and the engine reads it from there: it is in no process list, unit file or log. Launching without a key removes an old key file. A port another deployment or program holds on the board is refused, naming it.
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Seconds to wait for the model to load.")
    var timeout: Double = 300

    @Option(name: .long, help: "Payloads directory (service files; default: found beside the project or the executable).")
    var payloads: String?

    @OptionGroup var apiKey: APIKeyOptions

    struct Report: Encodable {
        var schema = "tpudeploy.launch/1"
        var deployment: String
        var board: String
        var manager: String
        var model: String?
        var family: String?
        var layers: Int?
        var seqLen: Int?
        var loadSeconds: Double?
        var readySeconds: Double
        var apiKeyRequired: Bool
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let key = try apiKey.key()
            let payloadDirectory = try PayloadDirectory.locate(explicit: payloads)
            let progress = StatusLine(quiet: output.json)
            let launcher = EngineLauncher(timeoutSeconds: timeout)
            let result: LaunchResult
            do {
                result = try await context.withBoard(payloads: payloadDirectory, apiKey: key, events: { event in
                    Self.render(event, on: progress, deployment: context.deployment.name, board: context.target.displayName)
                }) { board in
                    try await launcher.launch(board)
                }
            } catch {
                progress.finish()
                throw error
            }
            progress.finish()
            let health = result.health
            let report = Report(deployment: result.deployment, board: result.board, manager: result.manager,
                                model: health.model, family: health.family, layers: health.layers, seqLen: health.seqLen,
                                loadSeconds: health.loadSeconds, readySeconds: result.readySeconds,
                                apiKeyRequired: result.apiKeyRequired)
            if output.json {
                try printJSON(report)
            } else {
                let load = health.loadSeconds.map { String(format: "model loaded in %.2f s, ", $0) } ?? ""
                print("\(result.deployment) is serving on \(context.target.host) (127.0.0.1:\(context.deployment.port) on the board): "
                      + "\(health.family ?? "?") model, \(health.layers.map(String.init) ?? "?") layers, context \(health.seqLen.map(String.init) ?? "?"); "
                      + load + String(format: "ready after %.1f s. Try: tpudeploy chat", report.readySeconds)
                      + (result.apiKeyRequired ? " (the API wants the key: TPUDEPLOY_API_KEY or --api-key-file)" : ""))
            }
        }
    }

    /// The launch's events as the status lines people saw before launch moved into the library.
    private static func render(_ event: BoardEvent, on progress: StatusLine, deployment: String, board: String) {
        guard event.phase == .launch else { return }
        switch event.detail {
        case .started: progress.step("starting \(deployment) on \(board)")
        case .serviceStarted(let manager): progress.step("the engine runs under \(manager); waiting for it to load the model")
        case .engineWaiting(.waitingForPort(let elapsed)): progress.waiting("starting", seconds: elapsed)
        case .engineWaiting(.loading(let elapsed)): progress.waiting("loading the model", seconds: elapsed)
        default: break
        }
    }
}
