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
            let engine = context.engine
            let key = try apiKey.key()
            let payloadDirectory = try PayloadDirectory.locate(explicit: payloads)
            let started = Date()
            let progress = StatusLine(quiet: output.json)
            let session = try await SSHSession.connect(to: engine.target, passwordProvider: target.passwordProvider)
            let root = try await RootShell.open(session, passwordProvider: target.passwordProvider)
            let manager = EngineServiceManager(root: root, payloads: payloadDirectory)
            let spec = try await engine.launchSpec(session: session, withAPIKey: key != nil)
            try await manager.requirePortFree(spec)
            try await manager.installAPIKey(key, for: spec)
            progress.step("starting \(engine.deployment.name) on \(engine.target.displayName)")
            let managerName = try await manager.install(spec)
            progress.step("the engine runs under \(managerName); waiting for it to load the model")
            let health: EngineHealth
            do {
                health = try await engine.withAPI(apiKey: key?.value) { api, _ in
                    try await EngineReadiness(api: api, timeoutSeconds: timeout).wait(
                        fixMemoryCommand: context.fixMemoryCommand,
                        logTail: { (try? await manager.logs(spec, lines: 15)) ?? "" },
                        serviceRestarts: { try? await manager.status(spec).restarts },
                        onProgress: { state in
                            switch state {
                            case .waitingForPort(let elapsed): progress.waiting("starting", seconds: elapsed)
                            case .loading(let elapsed): progress.waiting("loading the model", seconds: elapsed)
                            }
                        })
                }
            } catch {
                progress.finish()
                let abandoned = await manager.abandon(spec, after: error)
                await session.close()
                throw abandoned
            }
            progress.finish()
            await session.close()
            let report = Report(deployment: engine.deployment.name, board: engine.target.displayName, manager: managerName,
                                model: health.model, family: health.family, layers: health.layers, seqLen: health.seqLen,
                                loadSeconds: health.loadSeconds, readySeconds: Date().timeIntervalSince(started),
                                apiKeyRequired: spec.requiresAPIKey)
            if output.json {
                try printJSON(report)
            } else {
                let load = health.loadSeconds.map { String(format: "model loaded in %.2f s, ", $0) } ?? ""
                print("\(engine.deployment.name) is serving on \(engine.target.host) (127.0.0.1:\(engine.deployment.port) on the board): "
                      + "\(health.family ?? "?") model, \(health.layers.map(String.init) ?? "?") layers, context \(health.seqLen.map(String.init) ?? "?"); "
                      + load + String(format: "ready after %.1f s. Try: tpudeploy chat", report.readySeconds)
                      + (spec.requiresAPIKey ? " (the API wants the key: TPUDEPLOY_API_KEY or --api-key-file)" : ""))
            }
        }
    }
}
