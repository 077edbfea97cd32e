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
        let running = try start(command, input: input)
        defer { running.close() }
        return try running.finish(timeout: timeout.map(Double.init))
    }

    /// Starts `command` on the board and returns at once; its output is collected by `finish`. Used for a
    /// command that works beside other traffic on the same connection (the upload's board-side hash).
    /// `keepInputOpen` leaves the command's standard input open, so that it ends only when the channel
    /// closes (a board lock held by a command that waits for its input to end).
    func start(_ command: String, input: [UInt8]? = nil, keepInputOpen: Bool = false) throws -> RunningCommand {
        guard let channel = ssh_channel_new(session) else {
            throw lostOrLibssh("opening a channel")
        }
        let running = RunningCommand(connection: self, channel: channel, command: command)
        // A dead link answers neither request: each is waited for while the board stays silent for at most the limit.
        var clock = StallClock(limitSeconds: stallLimit)
        do {
            if try untilSettled(&clock, { ssh_channel_open_session(channel) }) != SSH_OK {
                throw lostOrLibssh("opening a session channel")
            }
            clock.heard()
            let started = try untilSettled(&clock) { command.withCString { ssh_channel_request_exec(channel, $0) } }
            if started != SSH_OK { throw lostOrLibssh("starting `\(command.prefix(60))`") }
        } catch {
            running.close()
            throw error
        }
        do {
            if let input, !input.isEmpty { try running.write(input) }
        } catch {
            running.close()
            throw error
        }
        if !keepInputOpen { ssh_channel_send_eof(channel) }
        return running
    }
}

/// A command running on the board in its own channel. Not thread-safe: used on the connection's queue only,
/// like the connection itself; `close` (or deinit) frees the channel.
final class RunningCommand {
    private let connection: SSHConnection
    private let channel: ssh_channel
    private let command: String
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var closed = false

    fileprivate init(connection: SSHConnection, channel: ssh_channel, command: String) {
        self.connection = connection
        self.channel = channel
        self.command = command
    }

    deinit { close() }

    /// Waits until the command has ended (its output closed) and returns what it printed. `timeout` (seconds)
    /// bounds the wait; nil waits as long as the board keeps the connection.
    func finish(timeout: Double?) throws -> CommandResult {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        // libssh queues both streams as packets arrive, so draining stdout first cannot stall stderr.
        while try readStandardOutput(deadline: deadline, timeout: timeout) {
            drain(stream: 1, into: &stderr)
        }
        drain(stream: 1, into: &stderr)
        let status = ssh_channel_get_exit_status(channel)
        return CommandResult(stdout: stdout, stderr: stderr, exitStatus: status < 0 ? nil : Int(status))
    }

    /// The first line the command prints (without its newline), or what it printed before it ended without
    /// one; nil when it printed nothing. `timeout` (seconds) bounds the wait.
    func firstLine(timeout: Double) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while !stdout.contains(UInt8(ascii: "\n")), try readStandardOutput(deadline: deadline, timeout: timeout) {}
        guard !stdout.isEmpty else { return nil }
        let line = stdout.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        return String(decoding: line, as: UTF8.self)
    }

    /// Appends what arrives on standard output within a quarter second; false once the output has ended.
    ///
    /// A command may rightly print nothing for minutes (hashing a large file), so silence here is no stall: a
    /// dead link is noticed by the kernel's side of the stall limit (`armStallLimit`), which fails the socket.
    private func readStandardOutput(deadline: Date?, timeout: Double?) throws -> Bool {
        let name = connection.target.displayName
        let count = buffer.withUnsafeMutableBytes {
            ssh_channel_read_timeout(channel, $0.baseAddress, UInt32($0.count), 0, 250)
        }
        if count > 0 {
            stdout.append(contentsOf: buffer[0..<Int(count)])
        } else if count == SSH_ERROR {
            throw connection.linkFailure()
        } else if ssh_channel_is_eof(channel) != 0 || ssh_channel_is_open(channel) == 0 {
            return false
        } else if !connection.isConnected {
            throw connection.linkFailure()
        }
        if let deadline, Date() > deadline {
            throw SSHError.commandTimedOut(target: name, command: String(command.prefix(60)), seconds: Int(timeout ?? 0))
        }
        return true
    }

    /// Ends the command's input (a command waiting for it then ends), then closes the channel.
    func endInputAndClose() {
        guard !closed, !connection.isClosed else { return }
        if connection.isConnected { ssh_channel_send_eof(channel) }
        close()
    }

    /// Closes the channel; the board's sshd closes the command's input and output.
    func close() {
        guard !closed else { return }
        closed = true
        // ssh_free already freed the channels of a closed session.
        guard !connection.isClosed else { return }
        if connection.isConnected { ssh_channel_close(channel) }
        ssh_channel_free(channel)
    }

    /// What the command printed since the last call, without waiting (a fleet distribution steps many boards'
    /// relay agents in turn); `ended` once its output has closed.
    func readAvailable() throws -> (output: [UInt8], errors: [UInt8], ended: Bool) {
        var output: [UInt8] = [], errors: [UInt8] = []
        drain(stream: 0, into: &output)
        drain(stream: 1, into: &errors)
        let ended = ssh_channel_is_eof(channel) != 0 || ssh_channel_is_open(channel) == 0
        if !ended && !connection.isConnected { throw connection.linkFailure() }
        return (output, errors, ended)
    }

    /// Ends the command's input and keeps its output open (the command may still print on its way out).
    func endInput() {
        guard !closed, !connection.isClosed, connection.isConnected else { return }
        ssh_channel_send_eof(channel)
    }

    /// Sends `bytes` to the command's standard input, waiting while the board's window is shut.
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        var clock = StallClock(limitSeconds: connection.stallLimit)
        while offset < bytes.count {
            let chunk = min(32 * 1024, bytes.count - offset)
            let written = bytes.withUnsafeBytes {
                ssh_channel_write(channel, $0.baseAddress! + offset, UInt32(chunk))
            }
            if written > 0 {
                offset += Int(written)
                clock.heard()
            } else if written == SSH_ERROR || !connection.isConnected || clock.expired {
                // SSH_AGAIN: the board's window stayed shut for libssh's wait; try again until the limit.
                throw connection.linkFailure(clock)
            }
        }
    }

    private func drain(stream: Int32, into output: inout [UInt8]) {
        while true {
            let count = buffer.withUnsafeMutableBytes {
                ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32($0.count), stream)
            }
            guard count > 0 else { return }
            output.append(contentsOf: buffer[0..<Int(count)])
        }
    }
}
