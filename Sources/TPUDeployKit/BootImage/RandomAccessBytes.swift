/// A byte source read by offset: a file in memory, or a file on a board read over SFTP. Parsers that take one
/// read only the ranges they need, so a 40 MB boot image can be understood from a few small reads.
public protocol RandomAccessBytes: Sendable {
    /// The source's length in bytes.
    var count: Int { get }
    /// `count` bytes starting at `offset`; throws when the range is not inside the source.
    func bytes(at offset: Int, count: Int) throws -> [UInt8]
}

/// Bytes already in memory.
public struct InMemoryBytes: RandomAccessBytes, Equatable {
    public let contents: [UInt8]

    public init(_ contents: [UInt8]) { self.contents = contents }

    public var count: Int { contents.count }

    public func bytes(at offset: Int, count length: Int) throws -> [UInt8] {
        guard offset >= 0, length >= 0, offset <= contents.count, length <= contents.count - offset else {
            throw ByteRangeError(offset: offset, count: length, sourceCount: contents.count)
        }
        return Array(contents[offset..<(offset + length)])
    }
}

/// A read asked for bytes outside its source.
public struct ByteRangeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var offset: Int
    public var count: Int
    public var sourceCount: Int

    public var description: String {
        "cannot read \(count) bytes at offset \(offset): the source has only \(sourceCount) bytes"
    }
}

extension ByteRangeError: CodedError {
    public var errorCode: String { "byte_range" }
}
