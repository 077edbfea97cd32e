import CLibSSH
import Foundation

/// Why a tunnel to a port on the board could not be opened.
public enum SSHTunnelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The board's SSH server refused the channel: nothing listens on `host:port` there (or it forbids forwarding).
    case refused(target: String, host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .refused(let target, let host, let port, let reason):
            return "nothing accepts connections on \(host):\(port) on \(target) (its SSH server refused the channel: \(reason))"
        }
    }
}

extension SSHTunnelError: CodedError {
    public var errorCode: String { "tunnel_refused" }
    /// A service that is starting listens a moment later.
    public var isRetryable: Bool { true }
}

/// One TCP connection to a port as the board sees it (its 127.0.0.1), carried as a `direct-tcpip` channel on the
/// board's existing SSH session: no second login, no local listener, nothing exposed on the board's network.
///
/// Every call is one short job on the session's queue (a read waits there at most a quarter second), so a long
/// streamed answer never keeps other work on the same session waiting for longer than that. Opened and always
/// closed by `SSHSession.withTunnel`.
public final class SSHTunnel: @unchecked Sendable {
    public let host: String
    public let port: Int
    private let session: SSHSession
    /// Touched on the session's queue only; freed by `close`.
    private let channel: ssh_channel
    private var closed = false

    private init(session: SSHSession, channel: ssh_channel, host: String, port: Int) {
        self.session = session
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Opens the channel on the session's queue; a refusal (nothing listens) is `SSHTunnelError.refused`.
    /// `firstBytes` are written in the same job as the open: a server that times out a silent connection (the
    /// engine's HTTP server does after 5 s) must get its request at once, not when the caller's task next runs.
    static func open(on session: SSHSession, host: String, port: Int, firstBytes: [UInt8] = []) async throws -> SSHTunnel {
        let raw: ChannelHandle = try await session.withConnection { connection in
            guard let channel = ssh_channel_new(connection.session) else { throw connection.lostOrLibssh("opening a channel") }
            // A dead link never answers the open request: waited for while the board stays silent for at most the limit.
            var clock = StallClock(limitSeconds: connection.stallLimit)
            let opened: Int32
            do {
                opened = try connection.untilSettled(&clock) {
                    host.withCString { ssh_channel_open_forward(channel, $0, Int32(port), "127.0.0.1", 0) }
                }
            } catch {
                ssh_channel_free(channel)
                throw error
            }
            guard opened == SSH_OK else {
                let reason = connection.lastError
                ssh_channel_free(channel)
                if !connection.isConnected { throw connection.linkFailure() }
                throw SSHTunnelError.refused(target: connection.target.displayName, host: host, port: port, reason: reason)
            }
            do {
                try writeAll(firstBytes, to: channel, connection: connection)
            } catch {
                ssh_channel_close(channel)
                ssh_channel_free(channel)
                throw error
            }
            return ChannelHandle(channel: channel)
        }
        return SSHTunnel(session: session, channel: raw.channel, host: host, port: port)
    }

    /// Sends `bytes`, waiting while the board's window is shut for at most the stall limit.
    public func write(_ bytes: [UInt8]) async throws {
        try await session.withConnection { [self] connection in
            try requireOpen(connection)
            try Self.writeAll(bytes, to: channel, connection: connection)
        }
    }

    /// On the session's queue: all of `bytes`, waiting while the board's window is shut for at most the stall limit.
    private static func writeAll(_ bytes: [UInt8], to channel: ssh_channel, connection: SSHConnection) throws {
        var clock = StallClock(limitSeconds: connection.stallLimit)
        var offset = 0
        while offset < bytes.count {
            let chunk = min(32 * 1024, bytes.count - offset)
            let written = bytes.withUnsafeBytes { ssh_channel_write(channel, $0.baseAddress! + offset, UInt32(chunk)) }
            if written > 0 {
                offset += Int(written)
                clock.heard()
            } else if written == SSH_ERROR || !connection.isConnected || clock.expired {
                throw connection.linkFailure(clock)
            }
        }
    }

    /// The bytes that arrive within `seconds` (at most a quarter second: the caller loops with its own deadline):
    /// empty when none came yet, nil once the far end has closed. A link that died fails the session's socket
    /// (its stall limit, `armStallLimit`), which ends the wait with the link's error.
    public func read(waitingAtMost seconds: Double) async throws -> [UInt8]? {
        let milliseconds = Int32(max(1, min(250, seconds * 1000)))
        return try await session.withConnection { [self] connection in
            try requireOpen(connection)
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            let count = buffer.withUnsafeMutableBytes {
                ssh_channel_read_timeout(channel, $0.baseAddress, UInt32($0.count), 0, milliseconds)
            }
            if count > 0 { return Array(buffer[0..<Int(count)]) }
            if count == SSH_ERROR { throw connection.linkFailure() }
            if ssh_channel_is_eof(channel) != 0 || ssh_channel_is_open(channel) == 0 { return nil }
            if !connection.isConnected { throw connection.linkFailure() }
            return []
        }
    }

    /// Closes the channel (the board's end sees its connection close). Safe to call more than once.
    func close() async {
        _ = try? await session.withConnection { [self] connection in
            guard !closed else { return }
            closed = true
            // ssh_free already freed the channels of a closed session.
            guard !connection.isClosed else { return }
            if connection.isConnected { ssh_channel_close(channel) }
            ssh_channel_free(channel)
        }
    }

    private func requireOpen(_ connection: SSHConnection) throws {
        if closed || connection.isClosed {
            throw SSHError.connectionLost(target: connection.target.displayName, reason: "the session was closed")
        }
    }
}

/// A channel pointer handed from the session's queue to the tunnel that owns it from then on.
private struct ChannelHandle: @unchecked Sendable {
    let channel: ssh_channel
}

extension SSHSession {
    /// Runs `body` with a TCP connection to `host:port` as the board sees it, carried on this session (see
    /// `SSHTunnel`); the channel is closed however `body` ends.
    public func withTunnel<T: Sendable>(toPort port: Int, host: String = "127.0.0.1", sending firstBytes: [UInt8] = [],
                                        _ body: (SSHTunnel) async throws -> T) async throws -> T {
        let tunnel = try await SSHTunnel.open(on: self, host: host, port: port, firstBytes: firstBytes)
        do {
            let result = try await body(tunnel)
            await tunnel.close()
            return result
        } catch {
            await tunnel.close()
            throw error
        }
    }
}
