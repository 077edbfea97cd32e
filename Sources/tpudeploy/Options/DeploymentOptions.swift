import ArgumentParser
import Foundation
import TPUDeployKit

/// Which deployment on the board an engine command acts on: `deployment:` in tpudeploy.yaml, or these flags.
struct DeploymentOptions: ParsableArguments {
    @Option(name: .long, help: "Deployment name (default: deployment.name in tpudeploy.yaml): ASCII letters, digits, - _ . (starting with a letter or digit).")
    var name: String?

    @Option(name: .long, help: "The deployment's directory on the board (default: /data/tpudeploy/<name>): absolute; ASCII letters, digits and / . _ - + only.")
    var remoteDir: String?

    @Option(name: .customLong("engine-port"), help: "The engine's port on the board's 127.0.0.1 (default 8080).")
    var enginePort: Int?

    @Option(name: .customLong("profile"), help: "Model profile (Profiles/models) giving family and layer count.")
    var profile: String?

    @Option(name: .long, help: "Profiles directory (default: found beside the project or the executable).")
    var profiles: String?

    func resolve(configPath: String) throws -> DeploymentReference {
        let store = try? ProfileStore.locate(explicit: profiles)
        return try DeploymentReference.resolve(
            config: try ProjectConfig.load(from: configPath), configPath: configPath, name: name, remoteDir: remoteDir,
            port: enginePort, profileName: profile, profiles: store)
    }
}

/// Both halves of an engine command: the board and the deployment on it, resolved from flags and
/// tpudeploy.yaml before anything connects.
struct EngineCommandContext {
    let target: SSHTarget
    let boardProfile: String?
    let deployment: DeploymentReference
    let passwordProvider: PasswordProvider

    init(target: TargetOptions, deployment: DeploymentOptions) throws {
        let (sshTarget, board) = try target.resolve()
        self.target = sshTarget
        boardProfile = board
        self.deployment = try deployment.resolve(configPath: target.config)
        passwordProvider = target.passwordProvider
    }

    /// Connects to the board and runs `body` with its context; the session is closed however `body` ends.
    func withBoard<T>(payloads: PayloadDirectory? = nil, apiKey: EngineAPIKey? = nil, events: BoardEvents? = nil,
                      _ body: (BoardContext) async throws -> T) async throws -> T {
        let board = try await BoardContext.connect(
            to: target, boardProfile: boardProfile, deployment: deployment, payloads: payloads,
            passwordProvider: passwordProvider, apiKey: apiKey, events: events)
        do {
            let result = try await body(board)
            await board.session.close()
            return result
        } catch {
            await board.session.close()
            throw error
        }
    }
}
