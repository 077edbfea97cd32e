import Foundation

/// What a board's deployment directory holds, as recorded by earlier pushes in `<dir>/.tpudeploy-manifest.json`:
/// name, size and SHA-256 of every file that was verified on the board. A push skips a file whose entry
/// matches (and whose file still has that size) instead of re-hashing gigabytes on every run.
public struct BoardManifest: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.board-manifest/1"
    public static let fileName = ".tpudeploy-manifest.json"

    public struct Entry: Sendable, Codable, Equatable {
        public var size: UInt64
        public var sha256: String
        public var role: PayloadRole
        public init(size: UInt64, sha256: String, role: PayloadRole) {
            self.size = size
            self.sha256 = sha256
            self.role = role
        }
    }

    public var schema = BoardManifest.schemaName
    public var files: [String: Entry]

    public init(files: [String: Entry] = [:]) { self.files = files }

    /// Parses the manifest text; an empty, damaged or foreign file counts as an empty manifest (everything is
    /// then verified the slow way, never trusted).
    public init(text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let data = trimmed.data(using: .utf8), let decoded = try? JSONDecoder().decode(BoardManifest.self, from: data),
           decoded.schema == Self.schemaName {
            self = decoded
        } else {
            self.init()
        }
    }

    /// Whether the board already holds `entry`: same name, size and hash recorded, and the file on the board
    /// has that size now (`sizeOnBoard`, nil when absent) and was not written after the manifest was
    /// (`changedSinceRecorded`). The manifest is written after each file is in place, so a file newer than it
    /// was changed on the board since it was checked (rsync's quick check: size and time, not a re-hash).
    public func holds(_ entry: PayloadEntry, sizeOnBoard: UInt64?, changedSinceRecorded: Bool) -> Bool {
        guard !changedSinceRecorded, let recorded = files[entry.name], let sizeOnBoard else { return false }
        return recorded.size == entry.size && recorded.sha256 == entry.sha256 && sizeOnBoard == entry.size
    }

    public mutating func record(_ entry: PayloadEntry) {
        files[entry.name] = Entry(size: entry.size, sha256: entry.sha256, role: entry.role)
    }

    /// One line of JSON with sorted keys (the probe script reads it back line by line).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
