import ArgumentParser
import Foundation
import TPUDeployKit

struct LaunchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Start the pushed model's engine on the board as a service and wait until it serves.",
        discussion: """
            Installs tpu-llm-engine as a systemd service where systemd runs, else under tpudeploy's supervisor (started again at boot from /etc/rc.local); either way it restarts after a crash. An engine that exits before it answers (a crash loop) is reported within seconds with its last log lines; whenever the launch fails (crash loop, load failure, timeout) the service is stopped and not started at boot. Waits for the engine's /health through an SSH port forward and reports the model load time. Launching again restarts the engine with the current settings.

              tpudeploy launch
              tpudeploy launch --timeout 600 --json
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Seconds to wait for the model to load.")
    var timeout: Double = 300

    @Option(name: .long, help: "Payloads directory (service files; default: found beside the project or the executable).")
    var payloads: String?

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
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let engine = context.engine
            let payloadDirectory = try PayloadDirectory.locate(explicit: payloads)
            let started = Date()
            let progress = StatusLine(quiet: output.json)
            let session = try await SSHSession.connect(to: engine.target, passwordProvider: target.passwordProvider)
            let root = try await RootShell.open(session, passwordProvider: target.passwordProvider)
            let manager = EngineServiceManager(root: root, payloads: payloadDirectory)
            let spec = try await engine.launchSpec(session: session)
            progress.step("starting \(engine.deployment.name) on \(engine.target.displayName)")
            let managerName = try await manager.install(spec)
            progress.step("the engine runs under \(managerName); waiting for it to load the model")
            let health: EngineHealth
            do {
                health = try await engine.withAPI { api, _ in
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
                                loadSeconds: health.loadSeconds, readySeconds: Date().timeIntervalSince(started))
            if output.json {
                try printJSON(report)
            } else {
                let load = health.loadSeconds.map { String(format: "model loaded in %.2f s, ", $0) } ?? ""
                print("\(engine.deployment.name) is serving on \(engine.target.host) (127.0.0.1:\(engine.deployment.port) on the board): "
                      + "\(health.family ?? "?") model, \(health.layers.map(String.init) ?? "?") layers, context \(health.seqLen.map(String.init) ?? "?"); "
                      + load + String(format: "ready after %.1f s. Try: tpudeploy chat", report.readySeconds))
            }
        }
    }
}
