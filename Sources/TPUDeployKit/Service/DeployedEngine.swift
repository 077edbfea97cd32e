import Foundation

/// A deployment as the engine commands see it: name, directory and port on the board, and its model profile.
public struct DeploymentReference: Sendable, Equatable {
    public var name: String
    public var remoteDir: String
    public var port: Int
    public var profile: ModelProfile?

    public init(name: String, remoteDir: String, port: Int, profile: ModelProfile?) {
        self.name = name
        self.remoteDir = remoteDir
        self.port = port
        self.profile = profile
    }

    /// From `tpudeploy.yaml`'s `deployment:` and the flags (flags win). Without either, says how to name one.
    public static func resolve(config: ProjectConfig?, configPath: String, name: String?, remoteDir: String?, port: Int?,
                               profileName: String?, profiles: ProfileStore?) throws -> DeploymentReference {
        let settings = config?.deployment
        // The config's values were checked when it was read; the flags' are checked here, before anything runs.
        if let name { _ = try BoardNames.validatedName(name, source: "--name") }
        let flagDirectory = try remoteDir.map { try BoardNames.validatedDirectory($0, source: "--remote-dir") }
        if let port, !(1...65535).contains(port) {
            throw DeploymentSettingsError.invalidValue(key: "port", flag: "--engine-port", problem: "\(port) is not a TCP port (1-65535)")
        }
        guard let chosenName = name ?? settings?.name else {
            throw ServiceError.noDeploymentNamed(configPath: configPath)
        }
        let modelName = profileName ?? settings?.model
        var profile: ModelProfile?
        if let modelName {
            guard let profiles else { throw ProfileError.directoryNotFound(searched: ["Profiles"]) }
            profile = try profiles.model(named: modelName)
        }
        return DeploymentReference(
            name: chosenName,
            remoteDir: flagDirectory ?? (settings?.name == chosenName ? settings?.remoteDir : nil) ?? DeploymentSettings.defaultRemoteDir(name: chosenName),
            port: port ?? settings?.port ?? DeploymentSettings.defaultPort,
            profile: profile)
    }
}

/// What `push` left on the board: the files of each role in the deployment directory, from its manifest.
public struct DeployedFiles: Sendable, Equatable {
    public var engine: String
    public var bmodel: String
    public var tokenizer: String

    /// The login user on the board (who the engine runs as), from the same round trip as the manifest.
    public var loginUser: String

    /// Reads `<dir>/.tpudeploy-manifest.json` on the board; says to push first when something is missing. The
    /// manifest is the login user's file: names in it that could not be file names are refused.
    public static func read(_ deployment: DeploymentReference, session: SSHSession) async throws -> DeployedFiles {
        let path = deployment.remoteDir + "/" + BoardManifest.fileName
        let result = try await session.run(shellCommand(["id", "-un"]) + " && " + shellCommand(["head", "-c", "4194304", "--", path]) + " 2>/dev/null", timeout: 30)
        let lines = result.stdoutText.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let user = lines.first.map(String.init) ?? ""
        if let problem = BoardNames.userProblem(user) {
            throw BoardNameError.invalidUser(user, source: "the board's login user", problem: problem)
        }
        let manifest = BoardManifest(text: lines.count > 1 ? String(lines[1]) : "")
        func file(_ role: PayloadRole) throws -> String {
            guard let name = manifest.files.filter({ $0.value.role == role }).map(\.key).sorted().first else {
                throw ServiceError.notPushed(what: role.rawValue, directory: deployment.remoteDir)
            }
            _ = try BoardNames.validatedFileName(name, source: "\(path) on the board names a file")
            return deployment.remoteDir + "/" + name
        }
        return DeployedFiles(engine: try file(.engine), bmodel: try file(.bmodel), tokenizer: try file(.tokenizer), loginUser: user)
    }
}

/// The commands' way to the engine on one board: the service manager's spec and, for HTTP, the engine's API
/// through the board's SSH session.
public struct DeployedEngine: Sendable {
    public let deployment: DeploymentReference
    public let target: SSHTarget
    public let passwordProvider: PasswordProvider?

    public init(deployment: DeploymentReference, target: SSHTarget, passwordProvider: PasswordProvider?) {
        self.deployment = deployment
        self.target = target
        self.passwordProvider = passwordProvider
    }

    /// The launch spec of this deployment from what push left on the board; with `withAPIKey`, the engine
    /// reads its key from the deployment's key file (`EngineAPIKeyFile`).
    public func launchSpec(session: SSHSession, withAPIKey: Bool = false) async throws -> EngineLaunchSpec {
        let files = try await DeployedFiles.read(deployment, session: session)
        let user = files.loginUser
        return EngineLaunchSpec.serve(
            name: deployment.name, directory: deployment.remoteDir, engine: files.engine, model: files.bmodel,
            tokenizer: files.tokenizer, family: deployment.profile?.family, layers: deployment.profile?.layers,
            port: deployment.port, user: user,
            apiKeyFile: withAPIKey ? EngineAPIKeyFile.path(directory: deployment.remoteDir) : nil)
    }

    /// A spec good enough for stop/status/logs, which need only the name and directory.
    public var bareSpec: EngineLaunchSpec {
        EngineLaunchSpec(name: deployment.name, directory: deployment.remoteDir, commandLine: ["tpu-llm-engine"],
                         port: deployment.port, user: target.effectiveUser)
    }

    /// The engine's API on the board's 127.0.0.1, each request a channel on `session` (no second login).
    public func api(on session: SSHSession, apiKey: String? = nil, timeout: Double = 120) -> EngineAPI {
        EngineAPI(session: session, port: deployment.port, apiKey: apiKey, timeout: timeout)
    }

    /// Runs `body` with the engine's API through `session`. When nothing listens on the engine's port on the
    /// board, the error says so (not the SSH server's refusal).
    public func withAPI<T: Sendable>(on session: SSHSession, apiKey: String? = nil, timeout: Double = 120,
                                     _ body: (EngineAPI) async throws -> T) async throws -> T {
        do {
            return try await body(api(on: session, apiKey: apiKey, timeout: timeout))
        } catch {
            throw explained(error)
        }
    }

    /// The model ids of a `/v1/models` answer (an engine launched by tpudeploy serves its deployment's name);
    /// nil when the answer is not that list.
    static func servedModels(_ body: Data) -> [String]? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let data = object["data"] as? [[String: Any]] else { return nil }
        return data.compactMap { $0["id"] as? String }
    }

    /// `error` from talking to the engine, in words that say what to do when the cause is that nothing listened
    /// on the engine's port on the board (the board's SSH server refused the channel).
    public func explained(_ error: Error) -> Error {
        guard case SSHTunnelError.refused = error else { return error }
        return EngineAccessError.notListening(deployment: deployment.name, port: deployment.port, target: target.displayName)
    }

    /// Like `withAPI`, once the engine has accepted `apiKey`. When the engine wants a key and none was given,
    /// `askForKey` (a prompt on a terminal) is asked once; without it the error says how to pass one.
    public func withAuthorizedAPI<T: Sendable>(
        on session: SSHSession, apiKey: EngineAPIKey?, askForKey: (@Sendable () throws -> EngineAPIKey?)? = nil,
        timeout: Double = 120, _ body: (EngineAPI) async throws -> T
    ) async throws -> T {
        let name = deployment.name, port = deployment.port, board = target.displayName
        return try await withAPI(on: session, timeout: timeout) { open in
            var key = apiKey
            while true {
                var api = open
                api.apiKey = key?.value
                // An endpoint behind the key, cheap and side-effect free.
                let models = try await api.get("/v1/models", timeout: 30)
                if models.head.status != 401 {
                    // The port is the deployment's only if its engine serves it: another deployment's engine
                    // there must not answer for a name that has none (`chat --name typo`).
                    if models.head.status == 200, let served = Self.servedModels(models.body), !served.isEmpty, !served.contains(name) {
                        throw EngineAccessError.otherDeployment(deployment: name, serving: served[0], port: port, target: board)
                    }
                    return try await body(api)
                }
                if let key { throw EngineAccessError.keyRefused(deployment: name, source: key.source) }
                // A prompt on a terminal waits for a person: on a thread of its own.
                let ask = askForKey
                guard let asked = try await DedicatedThread.run("tpudeploy.key-prompt", { try ask?() }) else { throw EngineAccessError.keyNeeded(deployment: name) }
                key = asked
            }
        }
    }
}
