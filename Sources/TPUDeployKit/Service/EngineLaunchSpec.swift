/// How one deployment's engine runs on the board: its name, where its files are, its command line.
public struct EngineLaunchSpec: Sendable, Equatable, Codable {
    /// Deployment name; the service is `tpudeploy-<name>`.
    public var name: String
    /// The deployment's directory on the board (`/data/tpudeploy/<name>`): files, `service/`, `run/`, `log/`.
    public var directory: String
    /// The engine's full command line, executable first, absolute paths.
    public var commandLine: [String]
    /// The engine's port on the board's 127.0.0.1.
    public var port: Int
    /// The deployment's user: the login user. The engine runs as this user (for root, only when no other user can
    /// change the engine file; see `Payloads/service/tpu-llm-supervise`'s `runas`).
    public var user: String

    public init(name: String, directory: String, commandLine: [String], port: Int, user: String) {
        self.name = name
        self.directory = directory
        self.commandLine = commandLine
        self.port = port
        self.user = user
    }

    public var serviceName: String { "tpudeploy-\(name)" }
    public var logFile: String { directory + "/log/engine.log" }
    /// Whether the engine is started with an API key (`--api-key-file`).
    public var requiresAPIKey: Bool { commandLine.contains("--api-key-file") }

    /// `tpu-llm-engine serve …` for a deployment laid out by `push`.
    public static func serve(name: String, directory: String, engine: String, model: String, tokenizer: String,
                             family: String?, layers: Int?, port: Int, user: String, runtimeDirectory: String? = nil,
                             apiKeyFile: String? = nil, extraArguments: [String] = []) -> EngineLaunchSpec {
        var line = [engine, "serve", "--model", model, "--tokenizer", tokenizer, "--host", "127.0.0.1",
                    "--port", String(port), "--model-name", name]
        if let family { line += ["--family", family] }
        if let layers { line += ["--layers", String(layers)] }
        if let runtimeDirectory { line += ["--runtime-dir", runtimeDirectory] }
        // The file's path only: a key on the command line would show in `ps`, the unit and engine.args.
        if let apiKeyFile { line += ["--api-key-file", apiKeyFile] }
        line += extraArguments
        return EngineLaunchSpec(name: name, directory: directory, commandLine: line, port: port, user: user)
    }
}
