import CLibSSH
import Foundation

/// Progress of a transfer: bytes done and bytes in all.
public typealias TransferProgress = @Sendable (_ done: Int, _ total: Int) -> Void

extension SSHConnection {
    /// Reads a whole file from the board over SFTP with many read requests in flight, so that the link,
    /// not the round trip, sets the speed.
    ///
    /// Not libssh's `sftp_async_read`: like every wait of its SFTP client it loops forever on a read timeout, so a
    /// board whose SFTP server hangs with the connection up would hold it forever. The requests go over the
    /// read's own channel, whose waits end at the stall limit with `SSHError.linkStalled`; the server's refusal
    /// (no such file, permission denied) is `SSHError.sftpFailed`.
    public func readFile(_ path: String, progress: TransferProgress? = nil) throws -> [UInt8] {
        let channel = try SFTPChannel(connection: self, path: path)
        defer { channel.free() }
        return try channel.reading {
            try channel.start()
            let handle = try channel.openForReading()
            let size = Int(try channel.size(of: handle))
            // OpenSSH's sftp-server answers at most 256 KiB per read; 64 KiB requests, 32 in flight.
            let chunk = 64 * 1024
            let window = 32
            var contents = [UInt8](repeating: 0, count: size)
            var pending: [UInt32: (offset: Int, length: Int)] = [:]
            var nextOffset = 0
            var received = 0
            func request(_ offset: Int, _ length: Int) throws {
                pending[try channel.sendRead(handle: handle, offset: UInt64(offset), length: UInt32(length))] = (offset, length)
            }
            while received < size {
                while nextOffset < size && pending.count < window {
                    let length = min(chunk, size - nextOffset)
                    try request(nextOffset, length)
                    nextOffset += length
                }
                let (id, answer) = try channel.nextReadAnswer()
                guard let asked = pending.removeValue(forKey: id) else {
                    throw SSHError.sftpFailed(target: target.displayName, path: path, reason: "the SFTP server answered request \(id), which was not sent")
                }
                switch answer {
                case .data(let bytes) where !bytes.isEmpty && bytes.count <= asked.length:
                    contents.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: asked.offset).copyMemory(from: bytes, byteCount: bytes.count) }
                    received += bytes.count
                    // A short answer: the rest of its range is asked for again.
                    if bytes.count < asked.length { try request(asked.offset + bytes.count, asked.length - bytes.count) }
                    progress?(received, size)
                case .data(let bytes):
                    throw SSHError.sftpFailed(target: target.displayName, path: path, reason: "the SFTP server answered a read of \(asked.length) bytes with \(bytes.count)")
                case .endOfFile:
                    throw SSHError.sftpFailed(target: target.displayName, path: path, reason: "the file shrank while it was being read")
                case .refused(let status):
                    throw channel.readError(for: status)
                }
            }
            try channel.close(handle: handle)
            return contents
        }
    }

    /// Writes `bytes` to `path` on the board (created or truncated, mode `mode`) with many SFTP write requests in
    /// flight. The caller decides where: write to a temporary name and rename when whole.
    ///
    /// Not libssh's `sftp_write`: it waits for each answer in a loop that a read timeout does not end, so a board
    /// whose SFTP server hangs with the connection up (the kernel still acknowledges data and keepalives) would
    /// hold it forever. The upload's own channel counts silence against the stall limit instead: a hung server
    /// or a dead link ends in `SSHError.linkStalled`, the server's refusal in `SSHError.sftpFailed`.
    public func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, progress: TransferProgress? = nil) throws {
        do {
            _ = try bytes.withUnsafeBytes { all in
                try sendFile(
                    size: UInt64(all.count), to: path, from: 0, mode: mode, tuning: UploadTuning(), progress: progress,
                    cancelled: nil, companions: UploadCompanions()
                ) { start, length, send in
                    try send(UnsafeRawBufferPointer(rebasing: all[Int(start)..<(Int(start) + length)]))
                }
            }
        } catch let error as UploadError {
            throw SSHError(writing: error, target: target.displayName, path: path)
        }
    }
}

extension SSHError {
    /// The connection-level error for an upload's: a stall or a lost connection as such, anything the board's
    /// SFTP server answered as `sftpFailed`.
    init(writing error: UploadError, target: String, path: String) {
        switch error {
        case .linkStalled(let target, _, _, let seconds): self = .linkStalled(target: target, seconds: seconds)
        case .connectionLost(let target, _, _, let reason): self = .connectionLost(target: target, reason: reason)
        case .permissionDenied(let target, let path): self = .sftpFailed(target: target, path: path, reason: "permission denied")
        case .failed(let target, let path, let reason): self = .sftpFailed(target: target, path: path, reason: reason)
        case .noSpace, .localFile, .cancelled: self = .sftpFailed(target: target, path: path, reason: "\(error)")
        }
    }
}
