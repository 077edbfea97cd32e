import Dispatch
import Foundation

/// One SSH session to one board, safe to use from any task.
///
/// libssh sessions must be driven from one thread at a time, so every call runs on this session's own
/// serial queue. Sessions to different boards are independent and run in parallel, which is what lets a
/// fleet command drive hundreds of boards at once.
public final class SSHSession: @unchecked Sendable {
    public let target: SSHTarget
    private let queue: DispatchQueue
    private let connection: SSHConnection

    private init(target: SSHTarget, queue: DispatchQueue, connection: SSHConnection) {
        self.target = target
        self.queue = queue
        self.connection = connection
    }

    /// Connects to `target`, verifies its host key against known_hosts and logs in.
    /// `passwordProvider` is asked only if the board wants a password and key login did not work.
    /// `connectTimeout`, when shorter than the target's, bounds only the connect (a board polled while it
    /// reboots); the session keeps the target's waits afterwards.
    public static func connect(to target: SSHTarget, passwordProvider: PasswordProvider? = nil,
                               connectTimeout: Int? = nil) async throws -> SSHSession {
        let queue = DispatchQueue(label: "tpudeploy.ssh.\(target.host)")
        let connection: SSHConnection = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    try SSHConnection.open(target, passwordProvider: passwordProvider, connectTimeout: connectTimeout)
                })
            }
        }
        return SSHSession(target: target, queue: queue, connection: connection)
    }

    /// Runs `body` on the session's queue with exclusive use of the connection, for work made of several
    /// synchronous steps (for example walking a remote file with many small reads).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (SSHConnection) throws -> T) async throws -> T {
        let connection = self.connection
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(connection) }) }
        }
    }

    /// Runs one command on the board; see `SSHConnection.execute`.
    public func run(_ command: String, input: [UInt8]? = nil, timeout: Int? = nil) async throws -> CommandResult {
        try await withConnection { try $0.execute(command, input: input, timeout: timeout) }
    }

    /// The password the session logged in with, if it used one (for `sudo`).
    public var loginPassword: String? {
        get async { (try? await withConnection { $0.loginPassword }) ?? nil }
    }

    /// Ends the session. Safe to call more than once.
    public func close() async {
        _ = try? await withConnection { $0.close() }
    }
}
