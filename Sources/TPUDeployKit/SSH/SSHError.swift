/// Everything that can go wrong while talking to a board over SSH, worded for the person at the keyboard:
/// each message says what happened and what to do next.
public enum SSHError: Error, CustomStringConvertible, Sendable, Equatable {
    case cannotResolveOrConnect(target: String, reason: String)
    case connectTimedOut(target: String, seconds: Int)
    case hostKeyUnknown(target: String, fingerprint: String, knownHostsFile: String)
    case hostKeyChanged(target: String, fingerprint: String, knownHostsFile: String)
    case hostKeyOfOtherType(target: String, fingerprint: String, knownHostsFile: String)
    case knownHostsUnusable(file: String, reason: String)
    case identityUnreadable(file: String, reason: String)
    case authenticationFailed(user: String, target: String, triedPassword: Bool, triedKeys: Bool)
    case passwordNeeded(user: String, target: String)
    case connectionLost(target: String, reason: String)
    /// Nothing came back from the board for `seconds` (the stall limit): the link is taken for dead.
    case linkStalled(target: String, seconds: Int)
    case channelFailed(target: String, operation: String, reason: String)
    case commandTimedOut(target: String, command: String, seconds: Int)
    case sftpFailed(target: String, path: String, reason: String)
    case libssh(operation: String, reason: String)

    public var description: String {
        switch self {
        case .cannotResolveOrConnect(let target, let reason):
            return "cannot connect to \(target): \(reason). Check the address and port (--host/--port or tpudeploy.yaml) and that the board is powered and on the network."
        case .connectTimedOut(let target, let seconds):
            return "no SSH answer from \(target) within \(seconds) s. Check that the board is up and reachable, or raise --connect-timeout."
        case .hostKeyUnknown(let target, let fingerprint, let file):
            return "the host key of \(target) is not in \(file) (its fingerprint is \(fingerprint)). If this is your board, run again with --accept-new-host-key to trust it."
        case .hostKeyChanged(let target, let fingerprint, let file):
            return "the host key of \(target) CHANGED (it now shows \(fingerprint)); refusing to connect. This is what an attack looks like, and also what a re-flashed board looks like: if you re-flashed it, remove its old line from \(file) (ssh-keygen -R '\(target)' -f \(file)) and connect again with --accept-new-host-key."
        case .hostKeyOfOtherType(let target, let fingerprint, let file):
            return "\(target) offered a host key of a type not recorded for it in \(file) (fingerprint \(fingerprint)); refusing to connect. If the board was re-flashed, remove its old line from \(file) and connect again with --accept-new-host-key."
        case .knownHostsUnusable(let file, let reason):
            return "cannot use the known-hosts file \(file): \(reason). Fix its permissions or point --known-hosts at another file."
        case .identityUnreadable(let file, let reason):
            return "cannot read the SSH key \(file): \(reason). Check --identity (or `identity:` in tpudeploy.yaml)."
        case .authenticationFailed(let user, let target, let triedPassword, let triedKeys):
            var tried: [String] = []
            if triedKeys { tried.append("keys") }
            if triedPassword { tried.append("password") }
            let how = tried.isEmpty ? "no method the board accepts" : tried.joined(separator: " and ")
            return "\(target) refused login for \(user) (tried \(how)). Check the user (--user), the key (--identity) or the password (TPUDEPLOY_PASSWORD or --password-file)."
        case .passwordNeeded(let user, let target):
            return "\(target) wants a password for \(user), and none was given. Set TPUDEPLOY_PASSWORD or pass --password-file FILE (there is no terminal to ask on)."
        case .connectionLost(let target, let reason):
            return "the connection to \(target) was lost: \(reason). Check the link to the board and run the command again."
        case .linkStalled(let target, let seconds):
            return "the link to \(target) was lost: nothing came back from the board for \(seconds) s. Check the board's power and network cable, then run the command again (a push resumes where it stopped; --stall-timeout sets how long a silent link is waited for)."
        case .channelFailed(let target, let operation, let reason):
            return "\(target): \(operation) failed: \(reason)."
        case .commandTimedOut(let target, let command, let seconds):
            return "\(target): `\(command)` did not finish within \(seconds) s."
        case .sftpFailed(let target, let path, let reason):
            return "\(target): cannot access \(path) over SFTP: \(reason)."
        case .libssh(let operation, let reason):
            return "libssh: \(operation) failed: \(reason)."
        }
    }
}

extension SSHError: CodedError {
    public var errorCode: String {
        switch self {
        case .cannotResolveOrConnect: return "unreachable"
        case .connectTimedOut: return "connect_timeout"
        case .connectionLost: return "connection_lost"
        case .linkStalled: return "link_stalled"
        case .hostKeyChanged, .hostKeyOfOtherType: return "host_key_changed"
        case .hostKeyUnknown: return "host_key_unknown"
        case .authenticationFailed: return "auth_failed"
        case .passwordNeeded: return "password_needed"
        case .knownHostsUnusable, .identityUnreadable: return "ssh_setup"
        case .commandTimedOut: return "command_timeout"
        case .channelFailed, .sftpFailed, .libssh: return "ssh_failed"
        }
    }

    /// The board could not be reached at all (no route, no answer, the link lost): a fleet's `unreachable`.
    public var meansUnreachable: Bool {
        switch self {
        case .cannotResolveOrConnect, .connectTimedOut, .connectionLost, .linkStalled: return true
        default: return false
        }
    }

    public var isRetryable: Bool {
        switch self {
        case .cannotResolveOrConnect, .connectTimedOut, .connectionLost, .linkStalled, .commandTimedOut, .channelFailed: return true
        default: return false
        }
    }
}
