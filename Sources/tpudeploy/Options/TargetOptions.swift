import ArgumentParser
import Foundation
import TPUDeployKit

/// How to reach the board: shared by every command that talks to one.
struct TargetOptions: ParsableArguments {
    @OptionGroup var connection: BoardConnectionOptions

    @Option(name: .long, help: "SSH port (default 22, or ~/.ssh/config).")
    var port: Int?

    var config: String { connection.config }
    var passwordProvider: PasswordProvider { connection.passwordProvider }

    /// The target, merged from the flags and tpudeploy.yaml, and the board profile named, if any.
    func resolve() throws -> (target: SSHTarget, board: String?) { try connection.resolve(port: port) }
}

/// Everything about reaching the board but its SSH port: `forward` uses `--port` for its local port.
struct BoardConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "Board address (name or IP). Default: target.host in tpudeploy.yaml.")
    var host: String?

    @Option(name: .long, help: "Login user (default: tpudeploy.yaml, ~/.ssh/config, then your user name).")
    var user: String?

    @Option(name: .long, help: "Private key to log in with (default: the SSH agent and ~/.ssh/id_*).")
    var identity: String?

    @Option(name: .long, help: "known_hosts file to check the board's host key against (default ~/.ssh/known_hosts).")
    var knownHosts: String?

    @Option(name: .long, help: "OpenSSH client config to honour in full, ProxyCommand included (default ~/.ssh/config; 'none' to ignore). One named by tpudeploy.yaml is read without the directives that run commands.")
    var sshConfig: String?

    @Option(name: .long, help: "Seconds to wait for the board to answer.")
    var connectTimeout: Int = 10

    @Option(name: .long, help: "Seconds a silent link (a cut cable: nothing comes back from the board) is waited for before the command gives up; raise it for very slow links, lower it for tests.")
    var stallTimeout: Int = SSHTarget.defaultStallTimeout

    @Flag(name: .long, help: "Trust and record the host key of a board seen for the first time. A changed key is always refused.")
    var acceptNewHostKey = false

    @Option(name: .long, help: "File holding the login/sudo password (the environment variable TPUDEPLOY_PASSWORD works too).")
    var passwordFile: String?

    @Option(name: .long, help: "Project file to read the target from.")
    var config: String = ProjectConfig.defaultFileName

    /// The target, merged from the flags and tpudeploy.yaml, and the board profile named, if any.
    func resolve(port: Int?) throws -> (target: SSHTarget, board: String?) {
        let overrides = TargetOverrides(
            host: host, port: port, user: user, identity: identity, knownHosts: knownHosts, sshConfig: sshConfig,
            connectTimeout: connectTimeout, acceptNewHostKey: acceptNewHostKey)
        guard stallTimeout >= 1 else { throw ValidationError("--stall-timeout must be at least 1 second, not \(stallTimeout)") }
        var resolved = try overrides.resolve(with: try ProjectConfig.load(from: config), configPath: config)
        resolved.target.stallTimeout = stallTimeout
        for warning in try resolved.target.sshConfigWarnings() {
            FileHandle.standardError.write(Data("tpudeploy: warning: \(warning)\n".utf8))
        }
        return resolved
    }

    /// Where passwords come from: the environment, the file, or a prompt on the terminal.
    var passwordProvider: PasswordProvider {
        PasswordSource(file: passwordFile).provider
    }
}
