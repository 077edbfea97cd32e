import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The host's side of one board's relay agent: the agent runs in its own channel of the board's SSH session,
/// its standard input and output are the host's channel to it (`Sources/tpu-relay-agent/host_channel.c`).
///
/// Every call is one short step on the session's queue (read what arrived, send one frame), so no thread waits
/// on a board between steps and the session stays usable for other commands (the manifest write) meanwhile.
final class RelayAgentChannel: @unchecked Sendable {
    let session: SSHSession
    /// Touched only on the session's queue.
    private var command: RunningCommand?
    private var partialLine: [UInt8] = []
    private(set) var errorOutput: [UInt8] = []

    init(session: SSHSession) { self.session = session }

    /// Starts `commandLine` with its input kept open.
    func start(_ commandLine: String) async throws {
        try await session.withConnection { connection in
            self.command = try connection.start(commandLine, keepInputOpen: true)
        }
    }

    /// Sends one line of the host's protocol.
    func send(line: String) async throws {
        try await session.withConnection { _ in try self.command?.write(Array((line + "\n").utf8)) }
    }

    /// One step: sends `frame` when given (a chunk of a file the agent asked the host for), then returns the
    /// whole lines the agent printed since the last step, and whether its output has ended.
    func step(frame: HostFrame? = nil) async throws -> (lines: [String], ended: Bool, sent: UInt64) {
        try await session.withConnection { _ in
            guard let command = self.command else { return ([], true, 0) }
            var sent: UInt64 = 0
            if let frame {
                let bytes = try frame.read()
                try command.write(Array("F \(frame.file) \(frame.offset) \(bytes.count)\n".utf8) + bytes)
                sent = UInt64(bytes.count)
            }
            let (output, errors, ended) = try command.readAvailable()
            self.errorOutput += errors.prefix(max(0, 4096 - self.errorOutput.count))
            self.partialLine += output
            var lines: [String] = []
            while let newline = self.partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: self.partialLine[..<newline], as: UTF8.self))
                self.partialLine.removeSubrange(...newline)
            }
            if ended, !self.partialLine.isEmpty {
                lines.append(String(decoding: self.partialLine, as: UTF8.self))
                self.partialLine = []
            }
            return (lines, ended, sent)
        }
    }

    /// Ends the agent's input: the distribution is over, the agent exits.
    func endInput() async {
        _ = try? await session.withConnection { _ in self.command?.endInput() }
    }

    func close() async {
        _ = try? await session.withConnection { _ in
            self.command?.close()
            self.command = nil
        }
    }
}

/// A chunk of a local file the host sends to an agent that asked for it (`@@need`).
struct HostFrame: Sendable {
    var path: String
    var file: Int
    var offset: UInt64
    var length: Int

    /// The chunk's bytes, read here (on the session's queue, not the cooperative pool).
    func read() throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
            if got == 0 { throw PushError.localFileChanged(path: path) }
            done += got
        }
        return buffer
    }
}
