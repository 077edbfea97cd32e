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

/// Both halves of an engine command: the board and the deployment on it.
struct EngineCommandContext {
    let engine: DeployedEngine
    let boardProfile: String?

    init(target: TargetOptions, deployment: DeploymentOptions) throws {
        let (sshTarget, board) = try target.resolve()
        engine = DeployedEngine(deployment: try deployment.resolve(configPath: target.config), target: sshTarget,
                                passwordProvider: target.passwordProvider)
        boardProfile = board
    }

    /// The command that makes room for this deployment's model, for messages.
    var fixMemoryCommand: String? {
        guard let model = engine.deployment.profile?.name else { return nil }
        return "tpudeploy fix-memory\(boardProfile.map { " --board \($0)" } ?? "") --for-model \(model)"
    }
}
