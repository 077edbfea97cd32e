import Foundation

/// Why a command could not be run as root on the board.
public enum RootAccessError: Error, CustomStringConvertible, Sendable, Equatable {
    case passwordNeeded(user: String, target: String)
    case sudoRefused(user: String, target: String, message: String)

    public var description: String {
        switch self {
        case .passwordNeeded(let user, let target):
            return "changing the board needs root, and sudo for \(user) on \(target) wants a password: set TPUDEPLOY_PASSWORD or pass --password-file (or log in as root)."
        case .sudoRefused(let user, let target, let message):
            return "sudo on \(target) refused \(user): \(message). Check the password (TPUDEPLOY_PASSWORD or --password-file) and that \(user) may use sudo."
        }
    }
}

/// Runs shell scripts as root on a board: directly when logged in as root, else through `sudo` — without a
/// password when sudo allows it, with the login (or a provided) password on standard input otherwise.
public struct RootShell: Sendable {
    public enum Mode: Sendable, Equatable { case root, sudoWithoutPassword, sudoWithPassword(String) }

    public let session: SSHSession
    public let mode: Mode

    /// Finds out how to become root, asking `passwordProvider` only if sudo needs a password.
    public static func open(_ session: SSHSession, passwordProvider: PasswordProvider?) async throws -> RootShell {
        let check = try await session.run("if [ \"$(id -u)\" = 0 ]; then echo root; elif sudo -n true 2>/dev/null; then echo nopasswd; else echo password; fi", timeout: 30)
        switch check.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "root": return RootShell(session: session, mode: .root)
        case "nopasswd": return RootShell(session: session, mode: .sudoWithoutPassword)
        default:
            let user = session.target.effectiveUser
            var password = await session.loginPassword
            if password == nil { password = try passwordProvider?("[sudo] password for \(user) on \(session.target.host): ") }
            guard let password else { throw RootAccessError.passwordNeeded(user: user, target: session.target.displayName) }
            let shell = RootShell(session: session, mode: .sudoWithPassword(password))
            let probe = try await shell.run("true", timeout: 30)
            guard probe.succeeded else {
                throw RootAccessError.sudoRefused(user: user, target: session.target.displayName,
                                                  message: probe.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            return shell
        }
    }

    /// Runs `script` with `sh` as root and returns what it printed. `input` goes to the script's standard
    /// input: the way to hand it a secret, which on its command line would show in the board's `ps`.
    public func run(_ script: String, input: [UInt8]? = nil, timeout: Int? = 120) async throws -> CommandResult {
        switch mode {
        case .root:
            return try await session.run("sh -c \(shellQuoted(script))", input: input, timeout: timeout)
        case .sudoWithoutPassword:
            return try await session.run("sudo -n sh -c \(shellQuoted(script))", input: input, timeout: timeout)
        case .sudoWithPassword(let password):
            // sudo -S reads the password up to its newline, a byte at a time; the rest is the script's input.
            return try await session.run("sudo -S -p '' sh -c \(shellQuoted(script))",
                                         input: Array((password + "\n").utf8) + (input ?? []), timeout: timeout)
        }
    }

    /// Runs a board script as root with its arguments (each quoted by `shellQuoted`) and returns what it printed.
    public func run(_ call: BoardScriptCall, timeout: Int? = 120) async throws -> CommandResult {
        let command = call.commandLine
        switch mode {
        case .root:
            return try await session.run(command, timeout: timeout)
        case .sudoWithoutPassword:
            return try await session.run("sudo -n " + command, timeout: timeout)
        case .sudoWithPassword(let password):
            return try await session.run("sudo -S -p '' " + command, input: Array((password + "\n").utf8), timeout: timeout)
        }
    }

    public var isRoot: Bool { mode == .root }
}

extension RootAccessError: CodedError {
    public var errorCode: String {
        switch self {
        case .passwordNeeded: return "sudo_password_needed"
        case .sudoRefused: return "sudo_refused"
        }
    }
}
