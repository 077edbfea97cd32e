/// The model a project deploys, as written in `tpudeploy.yaml` under `deployment:`.
///
/// ```yaml
/// deployment:
///   name: chatglm2
///   model: chatglm2-6b            # model profile (Profiles/models), optional for a custom model
///   bmodel: models/chatglm2-6b.bmodel
///   tokenizer: models/tokenizer.model
///   remote_dir: /data/tpudeploy/chatglm2   # default /data/tpudeploy/<name>
///   port: 8080                    # the engine's port on the board's 127.0.0.1
/// ```
public struct DeploymentSettings: Sendable, Codable, Equatable {
    public static let defaultPort = 8080

    public var name: String
    /// Model profile name; nil for a custom model.
    public var model: String?
    public var bmodel: String
    public var tokenizer: String
    public var remoteDir: String
    public var port: Int
    /// An explicit engine build; nil picks the build for the board's architecture.
    public var engine: String?

    public init(name: String, model: String? = nil, bmodel: String, tokenizer: String, remoteDir: String? = nil,
                port: Int = DeploymentSettings.defaultPort, engine: String? = nil) {
        self.name = name
        self.model = model
        self.bmodel = bmodel
        self.tokenizer = tokenizer
        self.remoteDir = remoteDir ?? Self.defaultRemoteDir(name: name)
        self.port = port
        self.engine = engine
    }

    public static func defaultRemoteDir(name: String) -> String { "/data/tpudeploy/\(name)" }

    /// Reads the `deployment:` mapping, naming the file and key of anything wrong.
    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["name", "model", "bmodel", "tokenizer", "remote_dir", "port", "engine"])
        let name = try mapping.string("name")
        let given = try mapping.optionalString("remote_dir")
        let port = try mapping.optionalInt("port") ?? Self.defaultPort
        // The same checks `init` makes before it writes (DeploymentValidation.swift, with BoardNames' rules).
        if case .invalidValue(let key, _, let problem) = Self.invalidValue(name: name, remoteDir: given, port: port) {
            throw mapping.invalid(key, problem)
        }
        let remoteDir = given.flatMap { try? BoardNames.normalizedDirectory($0).get() }
        self.init(name: name, model: try mapping.optionalString("model"), bmodel: try mapping.string("bmodel"),
                  tokenizer: try mapping.string("tokenizer"), remoteDir: remoteDir, port: port,
                  engine: try mapping.optionalString("engine"))
    }

    /// YAML lines for `ProjectConfig.yamlText`.
    func yamlLines() -> [String] {
        var lines = ["deployment:", "  name: \(yamlScalar(name))"]
        if let model {
            lines.append("  # Model profile (Profiles/models): family, NPU need.")
            lines.append("  model: \(yamlScalar(model))")
        }
        lines.append("  bmodel: \(yamlScalar(bmodel))")
        lines.append("  tokenizer: \(yamlScalar(tokenizer))")
        lines.append("  # Where the files live on the board.")
        lines.append("  remote_dir: \(yamlScalar(remoteDir))")
        lines.append("  # The engine's port on the board's 127.0.0.1 (reached through an SSH port forward).")
        lines.append("  port: \(port)")
        if let engine { lines.append("  engine: \(yamlScalar(engine))") }
        return lines
    }
}
