import Foundation

/// Random access to a file on the board over SFTP, read in blocks and cached, so that a parser can walk a
/// 40 MB boot image while fetching only the few blocks it looks at.
///
/// The reads go over the reader's own SFTP channel, whose waits end at the stall limit (`SSHError.linkStalled`):
/// a hung SFTP server cannot hold an inspection forever. Use it only inside `SSHSession.withConnection`: it
/// drives the connection synchronously.
public final class SFTPFileReader: RandomAccessBytes, @unchecked Sendable {
    public let path: String
    public let count: Int
    private let connection: SSHConnection
    private let channel: SFTPChannel
    private let handle: [UInt8]
    private let blockSize: Int
    private var blocks: [Int: [UInt8]] = [:]
    /// How many read requests went to the board: what a round trip budget is measured by.
    public private(set) var requestCount = 0

    /// Opens `path` for reading. `blockSize` stays well under OpenSSH's 256 KiB message limit.
    public init(connection: SSHConnection, path: String, blockSize: Int = 128 * 1024) throws {
        self.connection = connection
        self.path = path
        self.blockSize = blockSize
        let channel = try SFTPChannel(connection: connection, path: path)
        do {
            (handle, count) = try channel.reading {
                try channel.start()
                let handle = try channel.openForReading()
                return (handle, Int(try channel.size(of: handle)))
            }
        } catch {
            channel.free()
            throw error
        }
        self.channel = channel
    }

    /// Freeing the channel ends the board's sftp-server, which closes the handle.
    deinit { channel.free() }

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
        var data: [UInt8] = []
        data.reserveCapacity(wanted)
        let shrank = SSHError.sftpFailed(
            target: connection.target.displayName, path: path, reason: "the file shrank while it was being read")
        while data.count < wanted {
            requestCount += 1
            // One request at a time, its answer awaited: the parser asks for blocks one after another.
            let (asked, (answered, answer)) = try channel.reading {
                let id = try channel.sendRead(handle: handle, offset: UInt64(start + data.count), length: UInt32(wanted - data.count))
                return (id, try channel.nextReadAnswer())
            }
            guard answered == asked else {
                throw SSHError.sftpFailed(
                    target: connection.target.displayName, path: path, reason: "the SFTP server answered request \(answered), which was not sent")
            }
            switch answer {
            case .data(let bytes) where !bytes.isEmpty && bytes.count <= wanted - data.count: data.append(contentsOf: bytes)
            case .data(let bytes) where !bytes.isEmpty:
                throw SSHError.sftpFailed(
                    target: connection.target.displayName, path: path,
                    reason: "the SFTP server answered a read of \(wanted - data.count) bytes with \(bytes.count)")
            case .data, .endOfFile: throw shrank
            case .refused(let status): throw channel.readError(for: status)
            }
        }
        blocks[index] = data
        return data
    }
}
