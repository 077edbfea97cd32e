import Foundation

/// Why no board could be chosen.
public enum TargetError: Error, CustomStringConvertible, Sendable, Equatable {
    case noTarget(configFile: String)
    /// The project file has a `target:` section (login settings for fleets) but no `host`.
    case noTargetHost(configFile: String)
    case invalidPort(Int)
    /// `source` is `--host` or the project file's name.
    case emptyHost(source: String)
    case invalidHost(String, source: String)
    /// `source` is `--user`, the project file's name, or an inventory's `ansible_user`.
    case invalidUser(String, source: String, problem: String)
    case sshConfigUnreadable(path: String)

    public var description: String {
        switch self {
        case .noTarget(let file):
            return "no board named: pass --host ADDRESS (with --user, --identity as needed), or write \(file) with `tpudeploy init --host ADDRESS`, or start a simulated board with `tpudeploy sim up`."
        case .noTargetHost(let file):
            return "no board named: \(file) has no target.host (its target section gives only login settings, which `tpudeploy fleet` commands use for the inventory's boards): pass --host ADDRESS, or add `host: ADDRESS` under target in \(file)."
        case .invalidPort(let port):
            return "--port \(port) is not a TCP port (1-65535)."
        case .emptyHost(let source):
            let fix = source == "--host" ? "pass the board's name or IP address, e.g. --host 192.0.2.10" : "write the board's name or IP address under target.host, e.g. `host: 192.0.2.10`, or pass --host ADDRESS"
            return "the board's address from \(source) is empty: \(fix)."
        case .invalidHost(let host, let source):
            return "\(source) gives \"\(host)\" as the board's address, which is not a host name, alias or IP address (letters, digits, '.', '-', '_', ':', '@', '[', ']'; not starting with '-'): give the board's name or IP address."
        case .invalidUser(let user, let source, let problem):
            return "\(source) gives \"\(user)\" as the login user, and \(problem): give the board's user name, such as root or linaro."
        case .sshConfigUnreadable(let path):
            return "cannot read the SSH client configuration \(path): check the path given with --ssh-config or as ssh_config in tpudeploy.yaml."
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
        if let host {
            try Self.checkHost(host, source: "--host")
            if host != settings?.host { settings = TargetSettings(host: host) }
        }
        guard let base = settings else { throw TargetError.noTarget(configFile: configPath) }
        guard let baseHost = base.host else { throw TargetError.noTargetHost(configFile: configPath) }
        try Self.checkHost(baseHost, source: configPath)
        if let user { try Self.checkUser(user, source: "--user") } else if let fileUser = base.user { try Self.checkUser(fileUser, source: configPath) }
        let namedBy = sshConfig == nil ? Self.projectFileNaming(base.sshConfig, configPath: configPath) : nil
        let target = SSHTarget(
            host: baseHost, port: port ?? base.port, user: user ?? base.user,
            identityFile: identity ?? base.identity, knownHostsFile: knownHosts ?? base.knownHosts,
            sshConfigFile: sshConfig ?? base.sshConfig, sshConfigNamedBy: namedBy, connectTimeout: connectTimeout,
            acceptNewHostKey: acceptNewHostKey)
        return (target, board ?? base.board)
    }

    /// An address libssh can be given, and that cannot smuggle anything into a `ProxyCommand`'s `%h` of the
    /// user's own ~/.ssh/config: a host name, a `Host` alias, an IPv4 or IPv6 address, optionally `user@`.
    public static func checkHost(_ host: String, source: String) throws {
        if host.trimmingCharacters(in: .whitespaces).isEmpty { throw TargetError.emptyHost(source: source) }
        let allowed = host.range(of: #"^[A-Za-z0-9_.:@\[\]][A-Za-z0-9_.:@\[\]-]*$"#, options: .regularExpression) != nil
        guard allowed else { throw TargetError.invalidHost(host, source: source) }
    }

    /// A login user libssh can be given: a portable user name, never something a shell or ssh_config's `%r`
    /// would read more into.
    public static func checkUser(_ user: String, source: String) throws {
        if let problem = BoardNames.userProblem(user) { throw TargetError.invalidUser(user, source: source, problem: problem) }
    }

    /// `configPath` when the SSH configuration `named` came from that project file and is not the user's own
    /// `~/.ssh/config`: such a configuration may not run commands here (`ProjectSSHConfig`). Nil otherwise.
    static func projectFileNaming(_ named: String?, configPath: String) -> String? {
        guard let named, named != "none", !isUsersOwnSSHConfig(named) else { return nil }
        return configPath
    }

    /// Whether `path` is the user's own `~/.ssh/config`, which is honoured as it is wherever it is named from.
    static func isUsersOwnSSHConfig(_ path: String) -> Bool {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let own = URL(fileURLWithPath: home + "/.ssh/config").resolvingSymlinksInPath().path
        let named = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).resolvingSymlinksInPath().path
        return named == own
    }
}

extension SSHTarget {
    /// One line per directive left out of an SSH configuration the project file named (empty when the user
    /// chose the configuration). Commands print these once, before connecting.
    public func sshConfigWarnings() throws -> [String] {
        guard let projectFile = sshConfigNamedBy, let path = sshConfigFile else { return [] }
        return try ProjectSSHConfig(contentsOf: path).warnings(path: path, projectFile: projectFile)
    }
}

extension TargetError: CodedError {
    public var errorCode: String {
        switch self {
        case .noTarget, .noTargetHost: return "no_target"
        case .invalidPort: return "invalid_port"
        case .emptyHost, .invalidHost: return "invalid_host"
        case .invalidUser: return "invalid_user"
        case .sshConfigUnreadable: return "ssh_config_unreadable"
        }
    }
}
