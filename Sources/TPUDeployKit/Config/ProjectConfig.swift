import Foundation

/// The board a project talks to, as written in `tpudeploy.yaml` under `target:`.
public struct TargetSettings: Sendable, Codable, Equatable {
    /// The one board of the single-board commands. nil in a file written for fleets, whose boards come from
    /// an inventory and take only the login settings from here.
    public var host: String?
    public var port: Int?
    public var user: String?
    public var identity: String?
    public var knownHosts: String?
    public var sshConfig: String?
    /// Board profile name (Profiles/boards), e.g. 1684x_evb.
    public var board: String?

    public init(host: String?, port: Int? = nil, user: String? = nil, identity: String? = nil,
                knownHosts: String? = nil, sshConfig: String? = nil, board: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.identity = identity
        self.knownHosts = knownHosts
        self.sshConfig = sshConfig
        self.board = board
    }
}

/// `tpudeploy.yaml`: per-project settings, written by `tpudeploy init` and `tpudeploy sim up`, read by every
/// command from the working directory. Flags given on the command line win over it.
public struct ProjectConfig: Sendable, Equatable {
    public static let defaultFileName = "tpudeploy.yaml"

    public var target: TargetSettings?
    public var deployment: DeploymentSettings?
    public var file: String

    public init(target: TargetSettings?, deployment: DeploymentSettings? = nil, file: String) {
        self.target = target
        self.deployment = deployment
        self.file = file
    }

    /// Reads `path`; returns nil when the file does not exist, throws naming the key when it is wrong. A file
    /// named by the user (`mustExist`, by default any but ./tpudeploy.yaml) that does not exist is an error: a
    /// mistyped --config must not run as if there were no project file.
    public static func load(from path: String, mustExist: Bool? = nil) throws -> ProjectConfig? {
        guard FileManager.default.fileExists(atPath: path) else {
            if mustExist ?? (path != defaultFileName) { throw ProjectConfigError.missing(path: path) }
            return nil
        }
        let root = try YAMLMapping(contentsOf: path)
        try root.onlyKeys(["target", "deployment"])
        var target: TargetSettings?
        if let section = try root.optionalMapping("target") {
            try section.onlyKeys(["host", "port", "user", "identity", "known_hosts", "ssh_config", "board"])
            let port = try section.optionalInt("port")
            if let port, !(1...65535).contains(port) { throw section.invalid("port", "\(port) is not a TCP port (1-65535)") }
            target = TargetSettings(
                host: try section.optionalString("host"), port: port, user: try section.optionalString("user"),
                identity: try section.optionalString("identity"), knownHosts: try section.optionalString("known_hosts"),
                sshConfig: try section.optionalString("ssh_config"), board: try section.optionalString("board"))
        }
        let deployment = try root.optionalMapping("deployment").map(DeploymentSettings.init(mapping:))
        return ProjectConfig(target: target, deployment: deployment, file: path)
    }

    /// The YAML text of this configuration, with comments that explain each key.
    public func yamlText(header: String) -> String {
        var lines = header.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" }
        if let target {
            lines.append("target:")
            if let host = target.host {
                lines.append("  # The board's address: tpudeploy has no built-in address and connects only here.")
                lines.append("  host: \(yamlScalar(host))")
            }
            if let port = target.port { lines.append("  port: \(port)") }
            if let user = target.user { lines.append("  user: \(yamlScalar(user))") }
            if let identity = target.identity {
                lines.append("  # Private key to log in with (else the SSH agent and ~/.ssh/id_*).")
                lines.append("  identity: \(yamlScalar(identity))")
            }
            if let knownHosts = target.knownHosts {
                lines.append("  # Where the board's host key is checked (else ~/.ssh/known_hosts).")
                lines.append("  known_hosts: \(yamlScalar(knownHosts))")
            }
            if let sshConfig = target.sshConfig { lines.append("  ssh_config: \(yamlScalar(sshConfig))") }
            if let board = target.board {
                lines.append("  # Board profile (Profiles/boards).")
                lines.append("  board: \(yamlScalar(board))")
            }
        }
        if let deployment { lines += deployment.yamlLines() }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the file atomically.
    public func write(header: String) throws {
        try yamlText(header: header).write(toFile: file, atomically: true, encoding: .utf8)
    }
}

/// Quotes a YAML scalar when plain style would change its meaning.
func yamlScalar(_ text: String) -> String {
    let plainSafe = text.range(of: #"^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+:-]*$"#, options: .regularExpression) != nil
    if plainSafe && !["true", "false", "null", "yes", "no", "~"].contains(text.lowercased()) { return text }
    return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// A project file named on the command line that is not there.
public enum ProjectConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    case missing(path: String)

    public var description: String {
        switch self {
        case .missing(let path):
            return "\(path): no such file. Pass the project file's path with --config, or leave it out to use ./tpudeploy.yaml (`tpudeploy init` writes one)."
        }
    }
}

extension ProjectConfigError: CodedError {
    public var errorCode: String { "config_missing" }
}
