import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A raw `sftp` subsystem channel that speaks SFTP v3 (draft-ietf-secsh-filexfer-02) itself: pipelined WRITE
/// requests for uploads, READ requests for reads, with every wait for an answer counted against the stall limit.
///
/// Not libssh's own SFTP client (0.10.6): `sftp_init`, `sftp_open`, `sftp_fstat`, `sftp_read`, `sftp_async_read`
/// and `sftp_write` wait for their answer in loops that a read timeout does not end, so a board whose sftp-server
/// hangs with the connection up (stopped, say: the kernel still acknowledges data and keepalives, so
/// TCP_USER_TIMEOUT never fires) would hold them forever.
///
/// Lives in the SSH folder because it holds a libssh channel; it is used only on the connection's queue and
/// freed before the connection closes.
final class SFTPChannel {
    enum Failure: Error {
        case lost(String)
        /// Nothing came back for this many seconds: the stall limit.
        case stalled(Int)
    }

    struct Status { var id: UInt32; var code: UInt32; var message: String }

    static let statusOK: UInt32 = 0
    static let statusEOF: UInt32 = 1
    private static let fxpInit: UInt8 = 1, fxpVersion: UInt8 = 2, fxpOpen: UInt8 = 3, fxpClose: UInt8 = 4
    private static let fxpRead: UInt8 = 5, fxpWrite: UInt8 = 6, fxpFstat: UInt8 = 8
    private static let fxpStatus: UInt8 = 101, fxpHandle: UInt8 = 102, fxpData: UInt8 = 103, fxpAttrs: UInt8 = 105

    private let connection: SSHConnection
    private let path: String
    private let channel: ssh_channel
    private var nextID: UInt32 = 1
    private var received: [UInt8] = []
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var freed = false
    /// Silence since the board last answered or took bytes; every wait below gives up at the stall limit.
    private var clock: StallClock

    /// Opens the channel and starts the `sftp` subsystem; throws the connection's error (`linkStalled` when the
    /// board stays silent for the stall limit).
    init(connection: SSHConnection, path: String) throws {
        self.connection = connection
        self.path = path
        clock = StallClock(limitSeconds: connection.stallLimit)
        guard let channel = ssh_channel_new(connection.session) else { throw connection.lostOrLibssh("opening a channel") }
        self.channel = channel
        do {
            if try connection.untilSettled(&clock, { ssh_channel_open_session(channel) }) != SSH_OK {
                throw connection.lostOrLibssh("opening a session channel for SFTP")
            }
            clock.heard()
            if try connection.untilSettled(&clock, { ssh_channel_request_subsystem(channel, "sftp") }) != SSH_OK {
                throw connection.lostOrLibssh("starting the sftp subsystem")
            }
        } catch {
            free()
            throw error
        }
        clock.heard()
    }

    func free() {
        guard !freed else { return }
        freed = true
        // ssh_free already freed the channels of a closed session.
        guard !connection.isClosed else { return }
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

    /// Opens the file for writing (created; truncated when `truncate`) and returns its handle.
    func open(truncate: Bool, mode: mode_t) throws -> [UInt8] {
        // WRITE | CREAT, plus TRUNC for a fresh start; permissions attribute.
        switch try openHandle(flags: 0x02 | 0x08 | (truncate ? 0x10 : 0), attributes: [0x04, UInt32(mode)]) {
        case .handle(let handle): return handle
        case .refused(let status): throw error(for: status)
        }
    }

    /// Opens the file for reading and returns its handle; the server's refusal as `SSHError.sftpFailed`.
    func openForReading() throws -> [UInt8] {
        switch try openHandle(flags: 0x01, attributes: [0]) {
        case .handle(let handle): return handle
        case .refused(let status): throw readError(for: status)
        }
    }

    private enum Opened { case handle([UInt8]), refused(Status) }

    private func openHandle(flags: UInt32, attributes: [UInt32]) throws -> Opened {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpOpen)
        packet.u32(id)
        packet.string(Array(path.utf8))
        packet.u32(flags)
        for word in attributes { packet.u32(word) }
        try send(packet.finish())
        let (type, body) = try readPacket()
        var reader = PacketReader(body)
        guard let replyID = reader.u32(), replyID == id else { throw protocolError("answer to OPEN has the wrong id") }
        if type == Self.fxpHandle, let handle = reader.string() { return .handle(handle) }
        if type == Self.fxpStatus, let code = reader.u32() {
            return .refused(Status(id: id, code: code, message: reader.string().map { String(decoding: $0, as: UTF8.self) } ?? ""))
        }
        throw protocolError("unexpected answer \(type) to OPEN")
    }

    /// The size of the open file (FSTAT).
    func size(of handle: [UInt8]) throws -> UInt64 {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpFstat)
        packet.u32(id)
        packet.string(handle)
        try send(packet.finish())
        let (type, body) = try readPacket()
        var reader = PacketReader(body)
        guard let replyID = reader.u32(), replyID == id else { throw protocolError("answer to FSTAT has the wrong id") }
        if type == Self.fxpStatus, let code = reader.u32() {
            throw readError(for: Status(id: id, code: code, message: reader.string().map { String(decoding: $0, as: UTF8.self) } ?? ""))
        }
        // ATTRS: flags, then the size first when flag 0x01 is set.
        guard type == Self.fxpAttrs, let flags = reader.u32(), flags & 0x01 != 0, let size = reader.u64() else {
            throw protocolError("the answer to FSTAT has no size")
        }
        return size
    }

    /// Sends a READ of `length` bytes at `offset` and returns its id; the answer comes from `nextReadAnswer`.
    func sendRead(handle: [UInt8], offset: UInt64, length: UInt32) throws -> UInt32 {
        let id = takeID()
        var packet = PacketWriter(type: Self.fxpRead)
        packet.u32(id)
        packet.string(handle)
        packet.u64(offset)
        packet.u32(length)
        try send(packet.finish())
        return id
    }

    enum ReadAnswer { case data([UInt8]), endOfFile, refused(Status) }

    /// The next answer to a READ, waiting for it (until the stall limit): the request's id and what came back.
    func nextReadAnswer() throws -> (id: UInt32, answer: ReadAnswer) {
        let (type, body) = try readPacket()
        var reader = PacketReader(body)
        guard let id = reader.u32() else { throw protocolError("an answer without an id") }
        if type == Self.fxpData, let data = reader.string() { return (id, .data(data)) }
        if type == Self.fxpStatus, let code = reader.u32() {
            if code == Self.statusEOF { return (id, .endOfFile) }
            return (id, .refused(Status(id: id, code: code, message: reader.string().map { String(decoding: $0, as: UTF8.self) } ?? "")))
        }
        throw protocolError("unexpected answer \(type) to READ")
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

    /// The server's refusal of a read as the connection's error, in the words OpenSSH uses.
    func readError(for status: Status) -> SSHError {
        let reason: String
        switch Int32(status.code) {
        case SSH_FX_NO_SUCH_FILE: reason = "no such file"
        case SSH_FX_PERMISSION_DENIED: reason = "permission denied"
        case SSH_FX_NO_SUCH_PATH: reason = "no such directory"
        default: reason = status.message.isEmpty ? "status \(status.code)" : status.message
        }
        return .sftpFailed(target: connection.target.displayName, path: path, reason: reason)
    }

    /// Runs `body` (requests on this channel), giving its failures as the connection's errors: a silent board
    /// as `SSHError.linkStalled`, a closed connection as `connectionLost`, a protocol fault as `sftpFailed`.
    func reading<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as Failure {
            switch failure {
            case .stalled(let seconds): throw SSHError.linkStalled(target: connection.target.displayName, seconds: seconds)
            case .lost(let reason): throw SSHError.connectionLost(target: connection.target.displayName, reason: reason)
            }
        } catch let error as UploadError {
            throw SSHError(writing: error, target: connection.target.displayName, path: path)
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
    mutating func u64() -> UInt64? {
        guard let high = u32(), let low = u32() else { return nil }
        return UInt64(high) << 32 | UInt64(low)
    }
    mutating func string() -> [UInt8]? {
        guard let length = u32(), position + Int(length) <= bytes.count else { return nil }
        defer { position += Int(length) }
        return Array(bytes[position..<(position + Int(length))])
    }
}
