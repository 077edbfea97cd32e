/// Why no board could be chosen.
public enum TargetError: Error, CustomStringConvertible, Sendable, Equatable {
    case noTarget(configFile: String)
    case invalidPort(Int)

    public var description: String {
        switch self {
        case .noTarget(let file):
            return "no board named: pass --host ADDRESS (with --user, --identity as needed), or write \(file) with `tpudeploy init --host ADDRESS`, or start a simulated board with `tpudeploy sim up`."
        case .invalidPort(let port):
            return "--port \(port) is not a TCP port (1-65535)."
        }
    }
}

/// What the command line said about the target; nil means "not given".
public struct TargetOverrides: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var user: String?
    public var identity: String?
    public var knownHosts: String?
    public var sshConfig: String?
    public var board: String?
    public var connectTimeout: Int
    public var acceptNewHostKey: Bool

    public init(host: String? = nil, port: Int? = nil, user: String? = nil, identity: String? = nil,
                knownHosts: String? = nil, sshConfig: String? = nil, board: String? = nil,
                connectTimeout: Int = 10, acceptNewHostKey: Bool = false) {
        self.host = host
        self.port = port
        self.user = user
        self.identity = identity
        self.knownHosts = knownHosts
        self.sshConfig = sshConfig
        self.board = board
        self.connectTimeout = connectTimeout
        self.acceptNewHostKey = acceptNewHostKey
    }

    /// Merges flags over the project file. A `--host` different from the file's starts from a clean slate,
    /// so the file's key and known_hosts are not used for another board by accident.
    public func resolve(with config: ProjectConfig?, configPath: String) throws -> (target: SSHTarget, board: String?) {
        if let port, !(1...65535).contains(port) { throw TargetError.invalidPort(port) }
        var settings = config?.target
        if let host, host != settings?.host { settings = TargetSettings(host: host) }
        guard let base = settings else { throw TargetError.noTarget(configFile: configPath) }
        let target = SSHTarget(
            host: base.host, port: port ?? base.port, user: user ?? base.user,
            identityFile: identity ?? base.identity, knownHostsFile: knownHosts ?? base.knownHosts,
            sshConfigFile: sshConfig ?? base.sshConfig, connectTimeout: connectTimeout,
            acceptNewHostKey: acceptNewHostKey)
        return (target, board ?? base.board)
    }
}
