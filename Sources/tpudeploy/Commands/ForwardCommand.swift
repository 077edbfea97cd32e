import ArgumentParser
import Foundation
import TPUDeployKit

struct ForwardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Expose the board's engine (its OpenAI-compatible API on the board's 127.0.0.1) on this machine.",
        discussion: """
            Listens on 127.0.0.1:PORT here; every connection is carried to the board's 127.0.0.1:REMOTE-PORT through the SSH connection (libssh direct-tcpip), so the engine never listens on the board's network. Runs until interrupted (Ctrl-C).

              tpudeploy forward --port 8080
              curl http://127.0.0.1:8080/v1/models
              curl -H "Authorization: Bearer $(cat key.txt)" http://127.0.0.1:8080/v1/models   # launched with --api-key-file key.txt

            The forward carries bytes only: with an engine launched with an API key, each client sends its own 'Authorization: Bearer KEY' header.
            """
    )

    @Option(name: .customLong("port"), help: "Local port to listen on (0: any free port).")
    var localPort: Int = DeploymentSettings.defaultPort
    @Option(name: .long, help: "The engine's port on the board (default: deployment.port, else 8080).")
    var remotePort: Int?

    @OptionGroup var target: BoardConnectionOptions

    @Option(name: .long, help: "The board's SSH port (default 22, or ~/.ssh/config).")
    var sshPort: Int?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            guard (0...65535).contains(localPort) else { throw ValidationError("--port \(localPort) is not a TCP port") }
            let deployment = try ProjectConfig.load(from: target.config)?.deployment
            let remote = remotePort ?? deployment?.port ?? DeploymentSettings.defaultPort
            let (sshTarget, _) = try target.resolve(port: sshPort)
            let forward = try await PortForward.start(target: sshTarget, passwordProvider: target.passwordProvider,
                                                      remotePort: remote, localPort: localPort)
            if output.json {
                // One line: a script reads it to learn the port, then connects.
                let object = ["schema": "tpudeploy.forward/1", "local": "127.0.0.1:\(forward.localPort)",
                              "remote": "127.0.0.1:\(remote)", "target": sshTarget.displayName]
                let text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            } else {
                // Written unbuffered: a script waits for this line before it connects.
                FileHandle.standardOutput.write(Data("forwarding 127.0.0.1:\(forward.localPort) → \(sshTarget.displayName) 127.0.0.1:\(remote) (Ctrl-C to stop)\n".utf8))
            }
            let stop = DispatchSemaphore(value: 0)
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
            for source in sources {
                source.setEventHandler { stop.signal() }
                source.resume()
            }
            // Also end when the SSH connection is lost.
            while stop.wait(timeout: .now() + 1) == .timedOut {
                if let failure = forward.failure {
                    forward.stop()
                    throw ValidationError(failure)
                }
            }
            forward.stop()
            _ = sources
        }
    }
}
