import Foundation

/// Where and how to reach one board: the address, the login, and how to check the board's identity.
/// Values left nil fall back to `~/.ssh/config` and then to libssh's defaults.
public struct SSHTarget: Sendable, Codable, Equatable {
    public var host: String
    public var port: Int?
    public var user: String?
    /// Private key to log in with; nil tries the SSH agent and the default keys.
    public var identityFile: String?
    /// known_hosts file used to verify (and, when allowed, record) the board's host key; nil = ~/.ssh/known_hosts.
    public var knownHostsFile: String?
    /// OpenSSH client configuration to honour; nil = ~/.ssh/config; "none" = do not read one.
    public var sshConfigFile: String?
    /// The project file that named `sshConfigFile`, when it came from one rather than from the user: that
    /// configuration is read without the directives that run commands here (`ProjectSSHConfig`).
    public var sshConfigNamedBy: String?
    /// Seconds to wait for the TCP connection and the SSH greeting.
    public var connectTimeout: Int
    /// Record the host key of a board seen for the first time instead of refusing. A changed key is always refused.
    public var acceptNewHostKey: Bool
    /// Seconds the link may stay silent (nothing the board sends arrives, nothing sent is acknowledged) before
    /// the command gives up on it with `SSHError.linkStalled`. Lower it in tests; raise it for very slow links.
    public var stallTimeout: Int

    /// The stall limit the documentation promises: two minutes.
    public static let defaultStallTimeout = 120

    public init(
        host: String, port: Int? = nil, user: String? = nil, identityFile: String? = nil,
        knownHostsFile: String? = nil, sshConfigFile: String? = nil, sshConfigNamedBy: String? = nil,
        connectTimeout: Int = 10, acceptNewHostKey: Bool = false, stallTimeout: Int = SSHTarget.defaultStallTimeout
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.identityFile = identityFile
        self.knownHostsFile = knownHostsFile
        self.sshConfigFile = sshConfigFile
        self.sshConfigNamedBy = sshConfigNamedBy
        self.connectTimeout = connectTimeout
        self.acceptNewHostKey = acceptNewHostKey
        self.stallTimeout = max(1, stallTimeout)
    }

    /// The user libssh will log in as when none is named: the local user, as OpenSSH does.
    public var effectiveUser: String {
        if let user { return user }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }

    /// `user@host:port` for messages.
    public var displayName: String {
        let portPart = port.map { $0 == 22 ? "" : ":\($0)" } ?? ""
        return "\(effectiveUser)@\(host)\(portPart)"
    }

    /// The known_hosts file that will actually be consulted.
    public var effectiveKnownHostsFile: String {
        if let knownHostsFile { return knownHostsFile }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.ssh/known_hosts"
    }
}

/// Supplies a password when a board asks for one (SSH login or sudo). Returns nil when there is none to give.
/// The command-line front end reads it from TPUDEPLOY_PASSWORD, a file, or a terminal prompt.
public typealias PasswordProvider = @Sendable (_ prompt: String) throws -> String?
