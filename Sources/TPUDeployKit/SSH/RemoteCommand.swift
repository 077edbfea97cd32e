import CLibSSH
import Foundation

/// What a command run on the board produced.
public struct CommandResult: Sendable, Equatable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The exit status, or nil when the command died by a signal or the board sent none.
    public var exitStatus: Int?

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    public var succeeded: Bool { exitStatus == 0 }
}

extension SSHConnection {
    /// Runs `command` through the login shell on the board, feeding `input` to its standard input, and
    /// collects everything it prints. `timeout` (seconds) bounds the whole command; nil waits as long as
    /// the board keeps the connection.
    public func execute(_ command: String, input: [UInt8]? = nil, timeout: Int? = nil) throws -> CommandResult {
        let name = target.displayName
        guard let channel = ssh_channel_new(session) else {
            throw lostOrLibssh("opening a channel")
        }
        defer { ssh_channel_free(channel) }
        if ssh_channel_open_session(channel) != SSH_OK { throw lostOrLibssh("opening a session channel") }
        defer { ssh_channel_close(channel) }
        let started = command.withCString { ssh_channel_request_exec(channel, $0) }
        if started != SSH_OK { throw lostOrLibssh("starting `\(command.prefix(60))`") }

        if let input, !input.isEmpty {
            try write(input, to: channel)
        }
        ssh_channel_send_eof(channel)

        let deadline = timeout.map { Date().addingTimeInterval(Double($0)) }
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // libssh queues both streams as packets arrive, so draining stdout first cannot stall stderr.
            let count = buffer.withUnsafeMutableBytes {
                ssh_channel_read_timeout(channel, $0.baseAddress, UInt32($0.count), 0, 250)
            }
            if count > 0 {
                stdout.append(contentsOf: buffer[0..<Int(count)])
            } else if count == SSH_ERROR {
                throw SSHError.connectionLost(target: name, reason: lastError)
            } else if ssh_channel_is_eof(channel) != 0 || ssh_channel_is_open(channel) == 0 {
                break
            }
            drain(channel, stream: 1, into: &stderr, buffer: &buffer)
            if let deadline, Date() > deadline {
                throw SSHError.commandTimedOut(target: name, command: String(command.prefix(60)), seconds: timeout ?? 0)
            }
        }
        drain(channel, stream: 1, into: &stderr, buffer: &buffer)
        let status = ssh_channel_get_exit_status(channel)
        return CommandResult(stdout: stdout, stderr: stderr, exitStatus: status < 0 ? nil : Int(status))
    }

    private func drain(_ channel: ssh_channel, stream: Int32, into output: inout [UInt8], buffer: inout [UInt8]) {
        while true {
            let count = buffer.withUnsafeMutableBytes {
                ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32($0.count), stream)
            }
            guard count > 0 else { return }
            output.append(contentsOf: buffer[0..<Int(count)])
        }
    }

    private func write(_ bytes: [UInt8], to channel: ssh_channel) throws {
        var offset = 0
        while offset < bytes.count {
            let chunk = min(32 * 1024, bytes.count - offset)
            let written = bytes.withUnsafeBytes {
                ssh_channel_write(channel, $0.baseAddress! + offset, UInt32(chunk))
            }
            if written == SSH_ERROR { throw SSHError.connectionLost(target: target.displayName, reason: lastError) }
            offset += Int(written)
        }
    }
}
