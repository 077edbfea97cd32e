import Foundation

@testable import TPUDeployKit

/// `Tests/Fixtures/memory-edit-oracle.json`: what Sophgo's memory_edit.sh wrote (or refused) for each request on the
/// fixture dtbs; see `Tests/Fixtures/memory-edit-oracle.md` for how it was recorded.
struct MemoryEditOracle: Decodable, Sendable {
    struct Script: Decodable, Sendable {
        var repository: String
        var commit: String
        var version: String
    }

    struct HexRange: Decodable, Sendable {
        var start: String
        var size: String
        var range: AddressRange {
            AddressRange(start: UInt64(start.dropFirst(2), radix: 16) ?? .max, size: UInt64(size.dropFirst(2), radix: 16) ?? .max)
        }
    }

    struct Edit: Decodable, Sendable {
        var path: String
        var reg: [HexRange]
    }

    /// A board: a fixture dtb, optionally with `reg` edits (the "ramoops moved" variant).
    struct Board: Decodable, Sendable {
        var dts: String
        var fixture: String
        var edits: [Edit]?
    }

    struct Node: Decodable, Sendable {
        var reg: [HexRange]?
        var phandle: UInt32?
        var compatible: String?
    }

    struct IONChild: Decodable, Sendable {
        var compatible: String
        var memoryRegion: [UInt32]?
    }

    struct Row: Decodable, Sendable {
        var name: String
        var board: String
        /// The row whose output this run started from.
        var after: String?
        var command: String
        var exitStatus: Int
        var printedMaxMiB: [String: UInt64]?
        var request: HeapRequest?
        var outcome: String?
        var messages: [String]?
        var reservedMemory: [String: Node]?
        var bitmainIon: [String: IONChild]?
        var tpuMemoryRegion: [UInt32]?
        var vdecMemoryRegion: [UInt32]?
    }

    var script: Script
    var boards: [String: Board]
    var rows: [Row]

    static let url = BootImageFixture.fixturesDirectory.appendingPathComponent("memory-edit-oracle.json")
    static let loaded: Result<MemoryEditOracle, any Error> = Result {
        try JSONDecoder().decode(MemoryEditOracle.self, from: Data(contentsOf: url))
    }
    static func table() throws -> MemoryEditOracle { try loaded.get() }
    /// Row names for parameterized tests (empty when the table does not load; `tableLoads` then fails).
    static let rowNames: [String] = ((try? loaded.get())?.rows ?? []).map(\.name)

    func row(_ name: String) throws -> Row {
        guard let row = rows.first(where: { $0.name == name }) else { throw OracleMissing(name: name) }
        return row
    }

    /// The board's dtb as the script started from it.
    func boardTree(_ name: String) throws -> FlatDeviceTree {
        guard let board = boards[name] else { throw OracleMissing(name: name) }
        var tree = try FlatDeviceTree(bytes: BootImageFixture.bytes(board.fixture))
        for edit in board.edits ?? [] { try tree.setReg(edit.reg.map(\.range), at: edit.path) }
        return tree
    }

    /// The dtb a row starts from on our side: the board's, or our own result for the row it follows.
    func startingTree(for row: Row) throws -> FlatDeviceTree {
        guard let after = row.after else { return try boardTree(row.board) }
        let previous = try self.row(after)
        var tree = try startingTree(for: previous)
        guard let request = previous.request else { throw OracleMissing(name: after) }
        try MemoryPlanner.apply(MemoryPlanner.plan(request, for: tree), to: &tree)
        return tree
    }
}

struct OracleMissing: Error, CustomStringConvertible {
    var name: String
    var description: String { "no \(name) in memory-edit-oracle.json" }
}
