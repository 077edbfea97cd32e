/// A FlatBuffers buffer was not what its schema promises: an offset or length points outside it.
public struct FlatBufferError: Error, CustomStringConvertible, Sendable, Equatable {
    public var reason: String
    public var description: String { "malformed FlatBuffers data: \(reason)" }
}

/// Read access to one table of a FlatBuffers buffer, every offset checked against the buffer, so a damaged
/// file is an error and never a crash. Only what reading bmodels needs: scalars, structs, strings, vectors.
struct FlatBufferTable {
    let buffer: [UInt8]
    /// Where the table starts in `buffer`.
    let position: Int
    private let vtable: Int
    private let vtableSize: Int

    /// The root table of `buffer`.
    init(root buffer: [UInt8]) throws {
        try self.init(buffer, at: Int(try Self.u32(buffer, 0)))
    }

    init(_ buffer: [UInt8], at position: Int) throws {
        self.buffer = buffer
        self.position = position
        let relative = Int(Int32(bitPattern: try Self.u32(buffer, position)))
        vtable = position - relative
        guard vtable >= 0, vtable + 4 <= buffer.count else { throw FlatBufferError(reason: "vtable of the table at \(position) is outside the buffer") }
        vtableSize = Int(try Self.u16(buffer, vtable))
        guard vtableSize >= 4, vtable + vtableSize <= buffer.count else { throw FlatBufferError(reason: "vtable at \(vtable) has a bad size") }
    }

    static func u16(_ buffer: [UInt8], _ at: Int) throws -> UInt16 {
        guard at >= 0, at + 2 <= buffer.count else { throw FlatBufferError(reason: "read of 2 bytes at \(at) is outside the buffer") }
        return UInt16(buffer[at]) | UInt16(buffer[at + 1]) << 8
    }

    static func u32(_ buffer: [UInt8], _ at: Int) throws -> UInt32 {
        guard at >= 0, at + 4 <= buffer.count else { throw FlatBufferError(reason: "read of 4 bytes at \(at) is outside the buffer") }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(buffer[at + $1]) << (8 * $1) }
    }

    static func u64(_ buffer: [UInt8], _ at: Int) throws -> UInt64 {
        guard at >= 0, at + 8 <= buffer.count else { throw FlatBufferError(reason: "read of 8 bytes at \(at) is outside the buffer") }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(buffer[at + $1]) << (8 * $1) }
    }

    /// Where field `id` is stored, or nil when the table does not carry it.
    private func fieldPosition(_ id: Int) throws -> Int? {
        let entry = 4 + 2 * id
        guard entry + 2 <= vtableSize else { return nil }
        let offset = Int(try Self.u16(buffer, vtable + entry))
        return offset == 0 ? nil : position + offset
    }

    func u32(_ id: Int, default value: UInt32 = 0) throws -> UInt32 {
        guard let at = try fieldPosition(id) else { return value }
        return try Self.u32(buffer, at)
    }

    func u64(_ id: Int, default value: UInt64 = 0) throws -> UInt64 {
        guard let at = try fieldPosition(id) else { return value }
        return try Self.u64(buffer, at)
    }

    /// An inline struct of two u64 (bmodel's `Binary {start, size}`).
    func u64Pair(_ id: Int) throws -> (UInt64, UInt64)? {
        guard let at = try fieldPosition(id) else { return nil }
        return (try Self.u64(buffer, at), try Self.u64(buffer, at + 8))
    }

    private func target(_ id: Int) throws -> Int? {
        guard let at = try fieldPosition(id) else { return nil }
        return at + Int(try Self.u32(buffer, at))
    }

    func string(_ id: Int) throws -> String? {
        guard let at = try target(id) else { return nil }
        let length = Int(try Self.u32(buffer, at))
        guard at + 4 + length <= buffer.count else { throw FlatBufferError(reason: "string at \(at) runs past the buffer") }
        return String(decoding: buffer[(at + 4)..<(at + 4 + length)], as: UTF8.self)
    }

    func table(_ id: Int) throws -> FlatBufferTable? {
        guard let at = try target(id) else { return nil }
        return try FlatBufferTable(buffer, at: at)
    }

    private func vector(_ id: Int, elementSize: Int) throws -> (start: Int, count: Int)? {
        guard let at = try target(id) else { return nil }
        let count = Int(try Self.u32(buffer, at))
        guard count <= (buffer.count - at - 4) / elementSize else { throw FlatBufferError(reason: "vector at \(at) runs past the buffer") }
        return (at + 4, count)
    }

    func tables(_ id: Int) throws -> [FlatBufferTable] {
        guard let vector = try vector(id, elementSize: 4) else { return [] }
        return try (0..<vector.count).map { index in
            let slot = vector.start + 4 * index
            return try FlatBufferTable(buffer, at: slot + Int(try Self.u32(buffer, slot)))
        }
    }

    func u64s(_ id: Int) throws -> [UInt64] {
        guard let vector = try vector(id, elementSize: 8) else { return [] }
        return try (0..<vector.count).map { try Self.u64(buffer, vector.start + 8 * $0) }
    }

    /// A `[uint8]` vector (bmodel's `check_code`), or nil when the table does not carry it.
    func u8s(_ id: Int) throws -> [UInt8]? {
        guard let vector = try vector(id, elementSize: 1) else { return nil }
        return Array(buffer[vector.start..<(vector.start + vector.count)])
    }
}

extension FlatBufferError: CodedError {
    public var errorCode: String { "bmodel_malformed" }
}
