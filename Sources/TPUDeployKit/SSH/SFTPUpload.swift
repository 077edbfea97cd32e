import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why an upload stopped. The cases are the ones a person acts on differently.
public enum UploadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The board refused to create or write the file.
    case permissionDenied(target: String, path: String)
    /// The file system on the board is full (confirmed by `df` after a failed write).
    case noSpace(target: String, path: String, freeBytes: UInt64, neededBytes: UInt64)
    /// The SSH connection went away; the bytes the board acknowledged stay in the temporary file.
    case connectionLost(target: String, path: String, acknowledgedBytes: UInt64, reason: String)
    /// Nothing came back from the board for `seconds` (the stall limit): the link is taken for dead; the bytes
    /// the board acknowledged stay in the temporary file.
    case linkStalled(target: String, path: String, acknowledgedBytes: UInt64, seconds: Int)
    /// The board's SFTP server answered with another failure.
    case failed(target: String, path: String, reason: String)
    /// The local file could not be read.
    case localFile(path: String, reason: String)
    /// The caller cancelled the upload.
    case cancelled(path: String)

    public var description: String {
        switch self {
        case .permissionDenied(let target, let path):
            return "\(target) refused to write \(path) (permission denied). Choose a directory the login user may write (--remote-dir), or create it: sudo mkdir -p DIR && sudo chown USER DIR."
        case .noSpace(let target, let path, let free, let needed):
            return "the file system of \(path) on \(target) is full: \(ByteCount.human(free)) free, \(ByteCount.human(needed)) still to write. Free space on the board (old models under /data) and push again; what was sent is kept and resumes."
        case .connectionLost(let target, let path, let acknowledged, let reason):
            return "the connection to \(target) was lost while writing \(path) (\(ByteCount.human(acknowledged)) acknowledged): \(reason). Push again: the upload resumes where it stopped."
        case .linkStalled(let target, let path, let acknowledged, let seconds):
            return "the link to \(target) was lost while writing \(path): nothing came back from the board for \(seconds) s (\(ByteCount.human(acknowledged)) acknowledged). Check the board's power and network cable, then push again: the upload resumes where it stopped."
        case .failed(let target, let path, let reason):
            return "\(target): writing \(path) over SFTP failed: \(reason)."
        case .localFile(let path, let reason):
            return "cannot read \(path): \(reason)."
        case .cancelled(let path):
            return "the upload of \(path) was cancelled; push again to resume it."
        }
    }
}

/// Says whether an upload should stop; checked between requests.
public typealias UploadCancellation = @Sendable () -> Bool

/// How an upload is sent: request size and how many requests are in flight.
public struct UploadTuning: Sendable, Equatable {
    /// Bytes per SFTP write request. OpenSSH's sftp-server accepts messages up to 256 KiB.
    public var requestBytes: Int = 128 * 1024
    /// Write requests sent before the first answer is awaited.
    public var requestsInFlight: Int = 32
    public init(requestBytes: Int = 128 * 1024, requestsInFlight: Int = 32) {
        self.requestBytes = requestBytes
        self.requestsInFlight = requestsInFlight
    }
}

/// What one upload did.
public struct UploadOutcome: Sendable, Equatable {
    /// Bytes sent in this call (acknowledged by the board).
    public var bytesSent: UInt64
    /// Bytes of the remote file after the call: `startOffset + bytesSent`.
    public var remoteSize: UInt64
    public var seconds: Double
    /// What the companion command printed; nil when none was asked for, or it did not end in time.
    public var companionResult: CommandResult?
}

/// Extra work done beside an upload.
public struct UploadCompanions: Sendable {
    /// Gets every chunk of the local file in file order, as it is sent (to hash it while sending).
    public var chunkObserver: (@Sendable (UnsafeRawBufferPointer) -> Void)?
    /// A shell command started on the board once the remote file is open (after its truncation), running while
    /// the bytes arrive; its output is collected after the last write is acknowledged.
    public var command: String?
    /// How long to wait for the command after the upload, in seconds.
    public var commandTimeout: Double

    public init(chunkObserver: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil, command: String? = nil, commandTimeout: Double = 300) {
        self.chunkObserver = chunkObserver
        self.command = command
        self.commandTimeout = commandTimeout
    }
}

extension SSHConnection {
    /// Uploads the local file `localPath` to `remotePath` from byte `offset` on, with many SFTP write requests
    /// in flight, so that the link rather than the round trip sets the speed.
    ///
    /// libssh 0.10 has no asynchronous SFTP write (`sftp_write` waits for each answer), so this speaks the
    /// SFTP v3 protocol itself on its own `sftp` subsystem channel: OPEN, then a window of WRITE requests
    /// whose STATUS answers are collected as they arrive, then CLOSE. With `offset` 0 the remote file is
    /// created or truncated; otherwise it is opened for writing at `offset` (the caller has verified that the
    /// bytes before `offset` are right). `progress` gets (acknowledged bytes of the whole file, file size).
    /// `companions` run beside the upload; a companion command that fails or overruns only leaves
    /// `companionResult` nil.
    public func uploadFile(
        _ localPath: String, to remotePath: String, from offset: UInt64 = 0, mode: mode_t = 0o644,
        tuning: UploadTuning = UploadTuning(), progress: TransferProgress? = nil, cancelled: UploadCancellation? = nil,
        companions: UploadCompanions = UploadCompanions()
    ) throws -> UploadOutcome {
        let descriptor = Glibc.open(localPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw UploadError.localFile(path: localPath, reason: String(cString: strerror(errno))) }
        defer { Glibc.close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw UploadError.localFile(path: localPath, reason: String(cString: strerror(errno))) }
        let size = UInt64(status.st_size)
        guard offset <= size else {
            throw UploadError.localFile(path: localPath, reason: "resume offset \(offset) is past its end (\(size) bytes)")
        }
        var buffer = [UInt8](repeating: 0, count: tuning.requestBytes)
        return try sendFile(
            size: size, to: remotePath, from: offset, mode: mode, tuning: tuning, progress: progress, cancelled: cancelled,
            companions: companions
        ) { position, length, send in
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, length, off_t(position)) }
            guard got == length else {
                throw UploadError.localFile(path: localPath, reason: got < 0 ? String(cString: strerror(errno)) : "the file shrank while it was being sent")
            }
            try buffer.withUnsafeBytes { try send(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        }
    }

    /// The upload of `size` bytes to `remotePath` from `offset` on, as `uploadFile` describes; `chunk` hands the
    /// bytes of each range (start, length) to `send`. Every wait for the board ends at the stall limit.
    func sendFile(
        size: UInt64, to remotePath: String, from offset: UInt64, mode: mode_t, tuning: UploadTuning,
        progress: TransferProgress?, cancelled: UploadCancellation?, companions: UploadCompanions,
        chunk: (_ start: UInt64, _ length: Int, _ send: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws -> UploadOutcome {
        let started = Date()
        let channel = try SFTPWriteChannel(connection: self, path: remotePath)
        defer { channel.free() }
        var next = offset
        var acknowledged = offset
        var inFlight: [UInt32: Int] = [:]
        func uploadError(_ failure: SFTPWriteChannel.Failure) -> UploadError {
            switch failure {
            case .lost(let reason):
                return .connectionLost(target: target.displayName, path: remotePath, acknowledgedBytes: acknowledged - offset, reason: reason)
            case .stalled(let seconds):
                return .linkStalled(target: target.displayName, path: remotePath, acknowledgedBytes: acknowledged - offset, seconds: seconds)
            }
        }
        let handle: [UInt8]
        do {
            try channel.start()
            handle = try channel.open(truncate: offset == 0, mode: mode)
        } catch let failure as SFTPWriteChannel.Failure {
            throw uploadError(failure)
        }
        // Optional: without it (sshd's MaxSessions reached, say) the board reads the file back instead.
        let companion = companions.command.flatMap { try? start($0) }
        defer { companion?.close() }
        /// Takes the answers that have arrived (waiting for one when `waitForOne`) and reports progress if any did.
        func collectAnswers(waitForOne: Bool) throws {
            var answered = false
            while let reply = try channel.nextStatus(wait: waitForOne && !answered) {
                answered = true
                guard let length = inFlight.removeValue(forKey: reply.id) else {
                    throw UploadError.failed(target: target.displayName, path: remotePath, reason: "the SFTP server answered request \(reply.id), which was not sent")
                }
                guard reply.code == SFTPWriteChannel.statusOK else {
                    throw channel.error(for: reply)
                }
                acknowledged += UInt64(length)
            }
            if answered { progress?(Int(acknowledged), Int(size)) }
        }
        do {
            while acknowledged < size {
                if cancelled?() == true { throw UploadError.cancelled(path: remotePath) }
                while next < size && inFlight.count < tuning.requestsInFlight {
                    let length = Int(min(UInt64(tuning.requestBytes), size - next))
                    try chunk(next, length) { bytes in
                        companions.chunkObserver?(bytes)
                        inFlight[try channel.sendWrite(handle: handle, offset: next, bytes: bytes)] = length
                    }
                    next += UInt64(length)
                }
                // Answers are taken only once the window is full, never between writes: polling libssh (0.10.6)
                // right after a write, before any blocking read, lost an answer now and then under CPU load and
                // the upload waited forever (2 hangs in ~20 test runs under CPU load; none in 10 such runs of this order).
                // The cost: on a slow link progress and Ctrl-C move a window (4 MiB) at a time.
                try collectAnswers(waitForOne: true)
            }
            try channel.close(handle: handle)
        } catch let failure as SFTPWriteChannel.Failure {
            throw uploadError(failure)
        }
        let seconds = Date().timeIntervalSince(started)
        var companionResult: CommandResult?
        do { companionResult = try companion?.finish(timeout: companions.commandTimeout) } catch {
            // The upload itself is whole and acknowledged; a lost connection shows in the caller's next step.
            companionResult = nil
        }
        return UploadOutcome(bytesSent: acknowledged - offset, remoteSize: acknowledged, seconds: seconds, companionResult: companionResult)
    }
}

/// A raw `sftp` subsystem channel that sends pipelined SFTP v3 write requests (draft-ietf-secsh-filexfer-02).
///
/// Lives in the SSH folder because it holds a libssh channel; it is used only from `SSHConnection.uploadFile`
/// on the connection's queue and freed before that returns.
final class SFTPWriteChannel {
    enum Failure: Error {
        case lost(String)
        /// Nothing came back for this many seconds: the stall limit.
        case stalled(Int)
    }

    struct Status { var id: UInt32; var code: UInt32; var message: String }

    static let statusOK: UInt32 = 0
    private static let fxpInit: UInt8 = 1, fxpVersion: UInt8 = 2, fxpOpen: UInt8 = 3, fxpClose: UInt8 = 4, fxpWrite: UInt8 = 6
    private static let fxpStatus: UInt8 = 101, fxpHandle: UInt8 = 102

    private let connection: SSHConnection
    private let path: String
    private let channel: ssh_channel
    private var nextID: UInt32 = 1
    private var received: [UInt8] = []
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var freed = false
    /// Silence since the board last answered or took bytes; every wait below gives up at the stall limit.
    private var clock: StallClock

    init(connection: SSHConnection, path: String) throws {
        self.connection = connection
        self.path = path
        clock = StallClock(limitSeconds: connection.stallLimit)
        guard let channel = ssh_channel_new(connection.session) else { throw connection.lostOrLibsshUpload("opening a channel", path) }
        self.channel = channel
        do {
            if try connection.untilSettled(&clock, { ssh_channel_open_session(channel) }) != SSH_OK {
                ssh_channel_free(channel)
                throw connection.lostOrLibsshUpload("opening a session channel", path)
            }
            clock.heard()
            if try connection.untilSettled(&clock, { ssh_channel_request_subsystem(channel, "sftp") }) != SSH_OK {
                ssh_channel_close(channel)
                ssh_channel_free(channel)
                throw connection.lostOrLibsshUpload("starting the sftp subsystem", path)
            }
        } catch let error as SSHError {
            ssh_channel_free(channel)
            throw connection.uploadError(error, path)
        }
        clock.heard()
    }

    func free() {
        guard !freed else { return }
        freed = true
        if connection.isConnected { ssh_channel_close(channel) }
        ssh_channel_free(channel)
    }

    deinit { free() }

    // MARK: Requests

    func start() throws {
        var packet = PacketWriter(type: Self.fxpInit)
        packet.u32(3)
        try send(packet.finish())
        let (type, _) = try readPacket()
        guard type == Self.fxpVersion else { throw protocolError("expected VERSION, got packet type \(type)") }
    }

    func open(truncate: Bool, mode: mode_t) throws -> [UInt8] {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpOpen)
        packet.u32(id)
        packet.string(Array(path.utf8))
        // WRITE | CREAT, plus TRUNC for a fresh start; permissions attribute.
        packet.u32(0x02 | 0x08 | (truncate ? 0x10 : 0))
        packet.u32(0x04)
        packet.u32(UInt32(mode))
        try send(packet.finish())
        let (type, body) = try readPacket()
        var reader = PacketReader(body)
        guard let replyID = reader.u32(), replyID == id else { throw protocolError("answer to OPEN has the wrong id") }
        if type == Self.fxpHandle, let handle = reader.string() { return handle }
        if type == Self.fxpStatus, let code = reader.u32() {
            throw error(for: Status(id: id, code: code, message: reader.string().map { String(decoding: $0, as: UTF8.self) } ?? ""))
        }
        throw protocolError("unexpected answer \(type) to OPEN")
    }

    func sendWrite(handle: [UInt8], offset: UInt64, bytes: UnsafeRawBufferPointer) throws -> UInt32 {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpWrite, reserve: bytes.count + handle.count + 32)
        packet.u32(id)
        packet.string(handle)
        packet.u64(offset)
        packet.u32(UInt32(bytes.count))
        packet.bytes.append(contentsOf: bytes)
        try send(packet.finish())
        return id
    }

    func close(handle: [UInt8]) throws {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpClose)
        packet.u32(id)
        packet.string(handle)
        try send(packet.finish())
        guard let status = try nextStatus(wait: true) else { throw protocolError("no answer to CLOSE") }
        if status.code != Self.statusOK { throw error(for: status) }
    }

    /// The next STATUS answer: waits for one when `wait`, else returns nil when none has arrived yet.
    func nextStatus(wait: Bool) throws -> Status? {
        if !wait {
            try pull(blocking: false)
            guard hasWholePacket else { return nil }
        }
        let (type, body) = try readPacket()
        var reader = PacketReader(body)
        guard type == Self.fxpStatus, let id = reader.u32(), let code = reader.u32() else {
            throw protocolError("expected STATUS, got packet type \(type)")
        }
        return Status(id: id, code: code, message: reader.string().map { String(decoding: $0, as: UTF8.self) } ?? "")
    }

    /// The typed error for a failed status. Permission denied is clear; a plain FAILURE on write is what
    /// OpenSSH's sftp-server answers for ENOSPC (and other errors), which the caller confirms with `df`.
    func error(for status: Status) -> UploadError {
        let name = connection.target.displayName
        switch Int32(status.code) {
        case SSH_FX_PERMISSION_DENIED, SSH_FX_WRITE_PROTECT: return .permissionDenied(target: name, path: path)
        case SSH_FX_NO_SUCH_FILE, SSH_FX_NO_SUCH_PATH:
            return .failed(target: name, path: path, reason: "no such directory")
        default:
            let text = status.message.isEmpty ? "status \(status.code)" : status.message
            return .failed(target: name, path: path, reason: text)
        }
    }

    // MARK: Wire

    private func takeID() -> UInt32 {
        defer { nextID &+= 1 }
        return nextID
    }

    private func protocolError(_ text: String) -> UploadError {
        .failed(target: connection.target.displayName, path: path, reason: "SFTP protocol: \(text)")
    }

    private func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                ssh_channel_write(channel, $0.baseAddress! + offset, UInt32(bytes.count - offset))
            }
            if written > 0 {
                offset += Int(written)
                // Past the first window, a write goes out only once the board has made room: it was heard from.
                clock.heard()
            } else if written == SSH_ERROR || !connection.isConnected {
                throw failure()
            } else if clock.expired {
                // SSH_AGAIN: the board's window stayed shut for libssh's wait; tried again until the limit.
                throw failure()
            }
        }
    }

    /// Why the connection failed: the link went silent (the kernel's side of the stall limit) or was closed.
    private func failure() -> Failure {
        if case .linkStalled(_, let seconds) = connection.linkFailure(clock) { return .stalled(seconds) }
        return .lost(connection.lastError)
    }

    private var hasWholePacket: Bool {
        guard received.count >= 4 else { return false }
        let length = Int(received[0]) << 24 | Int(received[1]) << 16 | Int(received[2]) << 8 | Int(received[3])
        return received.count >= 4 + length
    }

    private func pull(blocking: Bool) throws {
        var wanted = readBuffer.count
        if !blocking {
            // A zero-timeout poll, then the ordinary read of what is already buffered (it returns at once); unlike
            // ssh_channel_read_nonblocking this never switches the session to non-blocking mode.
            let available = ssh_channel_poll_timeout(channel, 0, 0)
            if available == SSH_ERROR { throw failure() }
            if available == SSH_EOF { throw Failure.lost("the SFTP server closed the channel") }
            guard available > 0 else { return }
            wanted = min(wanted, Int(available))
        }
        let count = readBuffer.withUnsafeMutableBytes {
            ssh_channel_read_timeout(channel, $0.baseAddress, UInt32(wanted), 0, clock.sliceMilliseconds)
        }
        if count == SSH_ERROR || !connection.isConnected { throw failure() }
        if count > 0 {
            received.append(contentsOf: readBuffer[0..<Int(count)])
            clock.heard()
        } else if ssh_channel_is_eof(channel) != 0 || ssh_channel_is_open(channel) == 0 {
            throw Failure.lost("the SFTP server closed the channel")
        }
    }

    private func readPacket() throws -> (UInt8, [UInt8]) {
        while !hasWholePacket {
            try pull(blocking: true)
            // sftp-server answers a write as soon as it has written it: silence for the whole stall limit means
            // the link (or the server) is gone, whether or not the kernel has noticed yet.
            if !hasWholePacket && clock.expired { throw failure() }
        }
        let length = Int(received[0]) << 24 | Int(received[1]) << 16 | Int(received[2]) << 8 | Int(received[3])
        let type = received[4]
        let body = Array(received[5..<(4 + length)])
        received.removeFirst(4 + length)
        return (type, body)
    }
}

private struct PacketWriter {
    var bytes: [UInt8]
    init(type: UInt8, reserve: Int = 64) {
        bytes = [0, 0, 0, 0, type]
        bytes.reserveCapacity(reserve)
    }
    mutating func u32(_ value: UInt32) {
        bytes.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }
    mutating func u64(_ value: UInt64) {
        u32(UInt32(value >> 32))
        u32(UInt32(value & 0xFFFF_FFFF))
    }
    mutating func string(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
    mutating func finish() -> [UInt8] {
        let length = UInt32(bytes.count - 4)
        bytes[0] = UInt8(length >> 24); bytes[1] = UInt8(length >> 16 & 0xFF)
        bytes[2] = UInt8(length >> 8 & 0xFF); bytes[3] = UInt8(length & 0xFF)
        return bytes
    }
}

private struct PacketReader {
    let bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func u32() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        defer { position += 4 }
        return UInt32(bytes[position]) << 24 | UInt32(bytes[position + 1]) << 16 | UInt32(bytes[position + 2]) << 8 | UInt32(bytes[position + 3])
    }
    mutating func string() -> [UInt8]? {
        guard let length = u32(), position + Int(length) <= bytes.count else { return nil }
        defer { position += Int(length) }
        return Array(bytes[position..<(position + Int(length))])
    }
}

extension SSHConnection {
    fileprivate func lostOrLibsshUpload(_ operation: String, _ path: String) -> UploadError {
        if !isConnected { return uploadError(linkFailure(), path) }
        return .failed(target: target.displayName, path: path, reason: "\(operation): \(lastError)")
    }

    /// An SSH error met before the first byte of `path` was sent, as the upload's own error.
    fileprivate func uploadError(_ error: SSHError, _ path: String) -> UploadError {
        switch error {
        case .linkStalled(let name, let seconds): return .linkStalled(target: name, path: path, acknowledgedBytes: 0, seconds: seconds)
        case .connectionLost(let name, let reason): return .connectionLost(target: name, path: path, acknowledgedBytes: 0, reason: reason)
        default: return .failed(target: target.displayName, path: path, reason: "\(error)")
        }
    }
}

extension UploadError: CodedError {
    public var errorCode: String {
        switch self {
        case .permissionDenied: return "upload_permission_denied"
        case .noSpace: return "not_enough_space"
        case .connectionLost: return "connection_lost"
        case .linkStalled: return "link_stalled"
        case .failed: return "upload_failed"
        case .localFile: return "local_file_unreadable"
        case .cancelled: return "cancelled"
        }
    }

    /// A transfer cut by the link resumes where it stopped when tried again.
    public var isRetryable: Bool {
        switch self {
        case .connectionLost, .linkStalled, .cancelled: return true
        default: return false
        }
    }
}
