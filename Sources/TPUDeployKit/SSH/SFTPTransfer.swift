import CLibSSH
import Foundation

/// Progress of a transfer: bytes done and bytes in all.
public typealias TransferProgress = @Sendable (_ done: Int, _ total: Int) -> Void

extension SSHConnection {
    /// Reads a whole file from the board over SFTP with many read requests in flight, so that the link,
    /// not the round trip, sets the speed.
    public func readFile(_ path: String, progress: TransferProgress? = nil) throws -> [UInt8] {
        let name = target.displayName
        let sftp = try self.sftp()
        guard let file = path.withCString({ sftp_open(sftp, $0, O_RDONLY, 0) }) else {
            throw sftpReadFailure(path)
        }
        defer { sftp_close(file) }
        guard let attributes = sftp_fstat(file) else {
            throw sftpReadFailure(path)
        }
        let size = Int(attributes.pointee.size)
        sftp_attributes_free(attributes)

        // OpenSSH's sftp-server answers at most 256 KiB per read; 64 KiB requests, 32 in flight.
        let chunk = 64 * 1024
        let window = 32
        var contents = [UInt8](repeating: 0, count: size)
        var pending: [(id: Int32, offset: Int, length: Int)] = []
        var nextOffset = 0
        var received = 0
        func readFailure() -> SSHError { sftpReadFailure(path) }
        func request() throws {
            let length = min(chunk, size - nextOffset)
            let id = sftp_async_read_begin(file, UInt32(length))
            if id < 0 { throw readFailure() }
            pending.append((id, nextOffset, length))
            nextOffset += length
        }
        while nextOffset < size && pending.count < window { try request() }
        while !pending.isEmpty {
            let head = pending.removeFirst()
            let got = contents.withUnsafeMutableBytes {
                sftp_async_read(file, $0.baseAddress! + head.offset, UInt32(head.length), UInt32(head.id))
            }
            if got < 0 { throw readFailure() }
            if got == 0 { throw SSHError.sftpFailed(target: name, path: path, reason: "the file shrank while it was being read") }
            var filled = Int(got)
            if filled < head.length {
                // A short answer: this request is used up; finish its range with plain reads, then put the
                // handle's offset back where the requests in flight continue.
                if sftp_seek64(file, UInt64(head.offset + filled)) < 0 { throw readFailure() }
                while filled < head.length {
                    let rest = contents.withUnsafeMutableBytes {
                        sftp_read(file, $0.baseAddress! + head.offset + filled, head.length - filled)
                    }
                    if rest < 0 { throw readFailure() }
                    if rest == 0 { throw SSHError.sftpFailed(target: name, path: path, reason: "the file shrank while it was being read") }
                    filled += rest
                }
                if sftp_seek64(file, UInt64(nextOffset)) < 0 { throw readFailure() }
            }
            received += head.length
            progress?(received, size)
            if nextOffset < size { try request() }
        }
        return contents
    }

    /// Why an SFTP read of `path` failed: a dead link (its stall limit ran out; the kernel fails the socket,
    /// libssh's own wait for the answer would never end) or a lost connection, else the server's answer.
    func sftpReadFailure(_ path: String) -> SSHError {
        if !isConnected { return linkFailure() }
        return .sftpFailed(target: target.displayName, path: path, reason: sftpErrorText())
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
