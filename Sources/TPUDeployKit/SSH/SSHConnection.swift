import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A libssh session and everything opened on it, used synchronously from one thread at a time.
///
/// libssh sessions are not thread-safe, so this type is only ever reached through `SSHSession`, which runs
/// every call on the session's own serial queue. It owns the `ssh_session` pointer and the SFTP session and
/// frees them in `deinit`; no libssh pointer leaves the SSH folder.
public final class SSHConnection: @unchecked Sendable {
    public let target: SSHTarget
    let session: ssh_session
    /// The password that opened the session, kept for `sudo` on the board.
    public private(set) var loginPassword: String?
    private var closed = false
    /// Seconds the TCP connect and the server's first answer are waited for: the target's, or a caller's shorter
    /// one (polling a rebooting board); the session's later waits use the target's.
    private var connectWait: Int
    /// Commands that run until released or until the session closes (board locks), by token; closed before
    /// the session is freed.
    private var heldCommands: [Int: RunningCommand] = [:]
    private var nextHoldToken = 0

    init(target: SSHTarget, session: ssh_session) {
        self.target = target
        self.session = session
        connectWait = target.connectTimeout
    }

    deinit { close() }

    /// Connects, verifies the host key and logs in; throws a typed error that says what to do.
    static func open(_ target: SSHTarget, passwordProvider: PasswordProvider?, connectTimeout: Int? = nil) throws -> SSHConnection {
        guard let raw = ssh_new() else {
            throw SSHError.libssh(operation: "ssh_new", reason: "out of memory")
        }
        let connection = SSHConnection(target: target, session: raw)
        if let connectTimeout { connection.connectWait = min(connectTimeout, target.connectTimeout) }
        try connection.configure()
        try connection.connectAndVerifyHost()
        try connection.authenticate(passwordProvider: passwordProvider)
        return connection
    }

    // MARK: Options

    private func setOption(_ option: ssh_options_e, _ value: String, _ what: String) throws {
        let rc = value.withCString { ssh_options_set(session, option, $0) }
        if rc != SSH_OK { throw SSHError.libssh(operation: "setting \(what)", reason: lastError) }
    }

    private func configure() throws {
        try setOption(SSH_OPTIONS_HOST, target.host, "the host")
        var verbosity: Int32 = 0
        ssh_options_set(session, SSH_OPTIONS_LOG_VERBOSITY, &verbosity)
        // ~/.ssh/config first, so that what the user typed on the command line overrides it.
        if target.sshConfigFile == "none" {
            // Else libssh reads ~/.ssh/config by itself at connect time.
            var process = false
            ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &process)
        } else {
            let rc: Int32
            if let file = target.sshConfigFile, target.sshConfigNamedBy != nil {
                rc = try parseWithoutCommands(file)
            } else if let file = target.sshConfigFile {
                rc = file.withCString { ssh_options_parse_config(session, $0) }
            } else {
                rc = ssh_options_parse_config(session, nil)
            }
            if rc != SSH_OK {
                throw SSHError.libssh(operation: "reading the SSH client configuration", reason: lastError)
            }
        }
        if let port = target.port {
            var value = UInt32(port)
            ssh_options_set(session, SSH_OPTIONS_PORT, &value)
        }
        if let user = target.user { try setOption(SSH_OPTIONS_USER, user, "the user") }
        if let file = target.knownHostsFile { try setOption(SSH_OPTIONS_KNOWNHOSTS, file, "the known-hosts file") }
        var timeout = connectWait
        ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout)
        // Without TCP_NODELAY a small message sent right after another (a command's input, then its EOF) waits
        // for the board's delayed ACK: ~40 ms on every such round trip (OpenSSH sets it for interactive sessions).
        var noDelay: Int32 = 1
        ssh_options_set(session, SSH_OPTIONS_NODELAY, &noDelay)
    }

    /// Gives libssh a private copy of `file` without the directives that run commands (a project file named
    /// it), removed as soon as libssh has read it.
    private func parseWithoutCommands(_ file: String) throws -> Int32 {
        let filtered = try ProjectSSHConfig(contentsOf: file)
        var template = Array((NSTemporaryDirectory() + "/tpudeploy-ssh-config-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw SSHError.libssh(operation: "copying the SSH client configuration \(file)", reason: String(cString: strerror(errno)))
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let bytes = Array(filtered.text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        Glibc.close(descriptor)
        guard written == bytes.count else {
            throw SSHError.libssh(operation: "copying the SSH client configuration \(file)", reason: "short write")
        }
        return path.withCString { ssh_options_parse_config(session, $0) }
    }

    // MARK: Connect and host key

    private func connectAndVerifyHost() throws {
        let started = Date()
        if ssh_connect(session) != SSH_OK {
            let reason = lastError
            let waited = Date().timeIntervalSince(started)
            if reason.localizedCaseInsensitiveContains("timeout") || reason.localizedCaseInsensitiveContains("timed out")
                || waited >= Double(connectWait) - 0.5
            {
                throw SSHError.connectTimedOut(target: target.displayName, seconds: connectWait)
            }
            throw SSHError.cannotResolveOrConnect(target: target.displayName, reason: reason)
        }
        armStallLimit()
        let fingerprint = try serverFingerprint()
        let knownHosts = target.effectiveKnownHostsFile
        let where_ = hostKeyName
        switch ssh_session_is_known_server(session) {
        case SSH_KNOWN_HOSTS_OK:
            return
        case SSH_KNOWN_HOSTS_CHANGED:
            throw SSHError.hostKeyChanged(target: where_, fingerprint: fingerprint, knownHostsFile: knownHosts)
        case SSH_KNOWN_HOSTS_OTHER:
            throw SSHError.hostKeyOfOtherType(target: where_, fingerprint: fingerprint, knownHostsFile: knownHosts)
        case SSH_KNOWN_HOSTS_UNKNOWN, SSH_KNOWN_HOSTS_NOT_FOUND:
            guard target.acceptNewHostKey else {
                throw SSHError.hostKeyUnknown(target: where_, fingerprint: fingerprint, knownHostsFile: knownHosts)
            }
            let directory = (knownHosts as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if ssh_session_update_known_hosts(session) != SSH_OK {
                throw SSHError.knownHostsUnusable(file: knownHosts, reason: lastError)
            }
        default:
            throw SSHError.knownHostsUnusable(file: knownHosts, reason: lastError)
        }
    }

    /// How the board is named in known_hosts: `host` on port 22, `[host]:port` otherwise.
    private var hostKeyName: String {
        if let port = target.port, port != 22 { return "[\(target.host)]:\(port)" }
        return target.host
    }

    /// The server key's SHA256 fingerprint in OpenSSH's notation (`SHA256:…`).
    func serverFingerprint() throws -> String {
        var key: ssh_key?
        guard ssh_get_server_publickey(session, &key) == SSH_OK, let key else {
            throw SSHError.libssh(operation: "reading the server's host key", reason: lastError)
        }
        defer { ssh_key_free(key) }
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        guard ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == 0, let hash else {
            throw SSHError.libssh(operation: "hashing the server's host key", reason: lastError)
        }
        defer {
            var owned: UnsafeMutablePointer<UInt8>? = hash
            ssh_clean_pubkey_hash(&owned)
        }
        guard let text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length) else {
            throw SSHError.libssh(operation: "formatting the host key fingerprint", reason: "out of memory")
        }
        defer { ssh_string_free_char(text) }
        return String(cString: text)
    }

    // MARK: Authentication

    private func authenticate(passwordProvider: PasswordProvider?) throws {
        let user = target.effectiveUser
        let name = target.displayName
        var triedKeys = false
        var triedPassword = false

        if ssh_userauth_none(session, nil) == SSH_AUTH_SUCCESS.rawValue { return }
        let methods = ssh_userauth_list(session, nil)

        if methods & Int32(SSH_AUTH_METHOD_PUBLICKEY) != 0 {
            triedKeys = true
            if let file = target.identityFile {
                if try authenticate(withKeyFile: file) { return }
            } else {
                let rc = ssh_userauth_publickey_auto(session, nil, nil)
                if rc == SSH_AUTH_SUCCESS.rawValue { return }
                if rc == SSH_AUTH_ERROR.rawValue { throw lostOrLibssh("public key login") }
            }
        }
        if methods & Int32(SSH_AUTH_METHOD_PASSWORD) != 0 {
            guard let password = try passwordProvider?("password for \(user)@\(target.host): ") else {
                throw SSHError.passwordNeeded(user: user, target: name)
            }
            triedPassword = true
            let rc = password.withCString { ssh_userauth_password(session, nil, $0) }
            if rc == SSH_AUTH_SUCCESS.rawValue {
                loginPassword = password
                return
            }
            if rc == SSH_AUTH_ERROR.rawValue { throw lostOrLibssh("password login") }
        }
        throw SSHError.authenticationFailed(user: user, target: name, triedPassword: triedPassword, triedKeys: triedKeys)
    }

    private func authenticate(withKeyFile file: String) throws -> Bool {
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw SSHError.identityUnreadable(file: file, reason: "no such file, or not readable")
        }
        var key: ssh_key?
        let rc = file.withCString { ssh_pki_import_privkey_file($0, nil, nil, nil, &key) }
        guard rc == SSH_OK, let key else {
            throw SSHError.identityUnreadable(file: file, reason: "not a private key libssh can read (is it passphrase-protected?)")
        }
        defer { ssh_key_free(key) }
        let auth = ssh_userauth_publickey(session, nil, key)
        if auth == SSH_AUTH_ERROR.rawValue { throw lostOrLibssh("public key login") }
        return auth == SSH_AUTH_SUCCESS.rawValue
    }

    // MARK: Teardown and errors

    /// The text libssh gives for the last error on this session.
    var lastError: String {
        let raw = UnsafeMutableRawPointer(session)
        guard let text = ssh_get_error(raw) else { return "unknown error" }
        return String(cString: text)
    }

    var isConnected: Bool { ssh_is_connected(session) != 0 }

    func lostOrLibssh(_ operation: String) -> SSHError {
        if !isConnected { return linkFailure() }
        return .channelFailed(target: target.displayName, operation: operation, reason: lastError)
    }

    var isClosed: Bool { closed }

    /// Keeps `command` running until `release(token)` or the session closes.
    func hold(_ command: RunningCommand) -> Int {
        nextHoldToken += 1
        heldCommands[nextHoldToken] = command
        return nextHoldToken
    }

    /// Ends a held command; nothing when it has already ended with the session.
    func release(_ token: Int) {
        heldCommands.removeValue(forKey: token)?.endInputAndClose()
    }

    func close() {
        guard !closed else { return }
        // Their channels belong to this session: ssh_free would free them under their owners.
        let held = heldCommands.values
        heldCommands = [:]
        for command in held { command.endInputAndClose() }
        closed = true
        if isConnected { ssh_disconnect(session) }
        ssh_free(session)
    }
}
