import CLibSSH
import Foundation

/// Random access to a file on the board over SFTP, read in blocks and cached, so that a parser can walk a
/// 40 MB boot image while fetching only the few blocks it looks at.
///
/// Use it only inside `SSHSession.withConnection`: it drives the connection synchronously.
public final class SFTPFileReader: RandomAccessBytes, @unchecked Sendable {
    public let path: String
    public let count: Int
    private let connection: SSHConnection
    private let file: sftp_file
    private let blockSize: Int
    private var blocks: [Int: [UInt8]] = [:]
    /// How many read requests went to the board: what a round trip budget is measured by.
    public private(set) var requestCount = 0

    /// Opens `path` for reading. `blockSize` stays well under OpenSSH's 256 KiB message limit.
    public init(connection: SSHConnection, path: String, blockSize: Int = 128 * 1024) throws {
        self.connection = connection
        self.path = path
        self.blockSize = blockSize
        let sftp = try connection.sftp()
        guard let file = path.withCString({ sftp_open(sftp, $0, O_RDONLY, 0) }) else {
            throw connection.sftpReadFailure(path)
        }
        guard let attributes = sftp_fstat(file) else {
            let failure = connection.sftpReadFailure(path)
            sftp_close(file)
            throw failure
        }
        self.count = Int(attributes.pointee.size)
        sftp_attributes_free(attributes)
        self.file = file
    }

    deinit { sftp_close(file) }

    public func bytes(at offset: Int, count length: Int) throws -> [UInt8] {
        guard offset >= 0, length >= 0, offset + length <= count else {
            throw SSHError.sftpFailed(
                target: connection.target.displayName, path: path,
                reason: "read of \(length) bytes at \(offset) is past the end of the \(count)-byte file")
        }
        var result: [UInt8] = []
        result.reserveCapacity(length)
        var position = offset
        while position < offset + length {
            let index = position / blockSize
            let block = try self.block(index)
            let start = position - index * blockSize
            let take = min(block.count - start, offset + length - position)
            guard take > 0 else { break }
            result.append(contentsOf: block[start..<(start + take)])
            position += take
        }
        return result
    }

    private func block(_ index: Int) throws -> [UInt8] {
        if let cached = blocks[index] { return cached }
        let start = index * blockSize
        let wanted = min(blockSize, count - start)
        if sftp_seek64(file, UInt64(start)) < 0 {
            throw connection.sftpReadFailure(path)
        }
        var data = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            requestCount += 1
            let got = data.withUnsafeMutableBytes { sftp_read(file, $0.baseAddress! + filled, wanted - filled) }
            if got < 0 {
                throw connection.sftpReadFailure(path)
            }
            if got == 0 { break }
            filled += got
        }
        guard filled == wanted else {
            throw SSHError.sftpFailed(
                target: connection.target.displayName, path: path, reason: "the file shrank while it was being read")
        }
        blocks[index] = data
        return data
    }
}
