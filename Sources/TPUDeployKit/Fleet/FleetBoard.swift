/// One board of a fleet run: its inventory name, how to reach it, and what it should become.
public struct FleetBoard: Sendable, Equatable, Codable {
    /// The inventory's name for it (what `--limit` and reports use).
    public var name: String
    public var target: SSHTarget
    /// `tpudeploy_board`: the board profile; nil means "the one whose dtb the board boots".
    public var boardProfile: String?
    /// `tpudeploy_deployment`, else tpudeploy.yaml's deployment name.
    public var deployment: String?
    /// Where that deployment lives on the board: tpudeploy.yaml's `remote_dir` for its own deployment, else
    /// the default `/data/tpudeploy/<name>`.
    public var deploymentDirectory: String?

    public init(name: String, target: SSHTarget, boardProfile: String? = nil, deployment: String? = nil, deploymentDirectory: String? = nil) {
        self.name = name
        self.target = target
        self.boardProfile = boardProfile
        self.deployment = deployment
        self.deploymentDirectory = deploymentDirectory ?? deployment.map(DeploymentSettings.defaultRemoteDir(name:))
    }
}

/// What applies to every board unless the inventory says otherwise: the connection settings of
/// tpudeploy.yaml's `target` section (never its host or port: those are one board's) and the flags.
public struct FleetDefaults: Sendable, Equatable {
    public var user: String?
    public var identity: String?
    public var knownHosts: String?
    public var sshConfig: String?
    /// The project file that named `sshConfig` (not the user, by flag): read without the directives that run
    /// commands here, as for one board.
    public var sshConfigNamedBy: String?
    public var connectTimeout: Int
    public var acceptNewHostKey: Bool
    public var deployment: String?
    /// The project's deployment directories by name (tpudeploy.yaml's `remote_dir`).
    public var deploymentDirectories: [String: String] = [:]

    public init(user: String? = nil, identity: String? = nil, knownHosts: String? = nil, sshConfig: String? = nil,
                connectTimeout: Int = 10, acceptNewHostKey: Bool = false, deployment: String? = nil) {
        self.user = user
        self.identity = identity
        self.knownHosts = knownHosts
        self.sshConfig = sshConfig
        self.connectTimeout = connectTimeout
        self.acceptNewHostKey = acceptNewHostKey
        self.deployment = deployment
    }

    /// Flags (non-nil) over the project file's `target` and `deployment` sections.
    public init(config: ProjectConfig?, user: String?, identity: String?, knownHosts: String?, sshConfig: String?,
                connectTimeout: Int, acceptNewHostKey: Bool, deployment: String?) {
        self.init(
            user: user ?? config?.target?.user, identity: identity ?? config?.target?.identity,
            knownHosts: knownHosts ?? config?.target?.knownHosts, sshConfig: sshConfig ?? config?.target?.sshConfig,
            connectTimeout: connectTimeout, acceptNewHostKey: acceptNewHostKey, deployment: deployment ?? config?.deployment?.name)
        if sshConfig == nil, let config { sshConfigNamedBy = TargetOverrides.projectFileNaming(config.target?.sshConfig, configPath: config.file) }
        if let project = config?.deployment { deploymentDirectories[project.name] = project.remoteDir }
    }
}

extension Inventory {
    /// The boards named `hosts`, each with its merged variables turned into a target: `ansible_host` (else the
    /// name), `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file` (the older `ansible_ssh_*` names
    /// too), `tpudeploy_board`, `tpudeploy_deployment`; what they leave out comes from `defaults`.
    public func boards(_ hosts: [String], defaults: FleetDefaults) throws -> [FleetBoard] {
        try hosts.map { name in
            let variables = variables(of: name)
            func problem(_ key: String, _ text: String) -> InventoryError {
                InventoryError(.badVariable, file: source, line: line(of: key, for: name), key: "\(name).\(key)", text)
            }
            func text(_ keys: String...) throws -> String? {
                for key in keys {
                    guard let value = variables[key] else { continue }
                    guard let text = value.text, !text.isEmpty else { throw problem(key, "expected text, got \(value)") }
                    if text.contains("{{") {
                        throw problem(key, "'\(text)' is a Jinja template; tpudeploy reads inventories without evaluating templates: write the value itself")
                    }
                    return text
                }
                return nil
            }
            var port: Int?
            if let portText = try text("ansible_port", "ansible_ssh_port") {
                guard let number = Int(portText), (1...65535).contains(number) else {
                    throw problem(variables["ansible_port"] != nil ? "ansible_port" : "ansible_ssh_port", "'\(portText)' is not a TCP port (1-65535)")
                }
                port = number
            }
            // Checked as --host is: an address that could smuggle options into the user's own ssh_config's %h.
            let hostKey = variables["ansible_host"] != nil ? "ansible_host" : variables["ansible_ssh_host"] != nil ? "ansible_ssh_host" : nil
            let host = try text("ansible_host", "ansible_ssh_host") ?? name
            do { try TargetOverrides.checkHost(host, source: hostKey ?? "the inventory's host name") } catch {
                throw hostKey.map { problem($0, "'\(host)' is not a host name, alias or IP address (letters, digits, '.', '-', '_', ':', '@', '[', ']'; not starting with '-')") }
                    ?? InventoryError(.badVariable, file: source, key: name,
                                      "'\(name)' is not a host name or IP address: set ansible_host for it")
            }
            let user = try text("ansible_user", "ansible_ssh_user")
            if let user, let why = BoardNames.userProblem(user) {
                throw problem(variables["ansible_user"] != nil ? "ansible_user" : "ansible_ssh_user", "'\(user)' is not a login user: \(why)")
            }
            let target = SSHTarget(
                host: host, port: port,
                user: user ?? defaults.user,
                identityFile: try text("ansible_ssh_private_key_file", "ansible_private_key_file") ?? defaults.identity,
                knownHostsFile: defaults.knownHosts, sshConfigFile: defaults.sshConfig, sshConfigNamedBy: defaults.sshConfigNamedBy,
                connectTimeout: defaults.connectTimeout, acceptNewHostKey: defaults.acceptNewHostKey)
            let deployment = try text("tpudeploy_deployment") ?? defaults.deployment
            if let deployment, let why = BoardNames.nameProblem(deployment) {
                throw variables["tpudeploy_deployment"] != nil
                    ? problem("tpudeploy_deployment", "'\(deployment)' cannot name a deployment: \(why)")
                    : BoardNameError.invalidName(deployment, source: "--deployment", problem: why)
            }
            return FleetBoard(name: name, target: target, boardProfile: try text("tpudeploy_board"), deployment: deployment,
                              deploymentDirectory: deployment.flatMap { defaults.deploymentDirectories[$0] })
        }
    }
}
