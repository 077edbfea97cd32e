/// Space on one file system of the board, from POSIX `df -Pk PATH`.
public struct FilesystemSpace: Sendable, Codable, Equatable {
    public var path: String
    public var mountPoint: String
    public var totalBytes: UInt64
    public var availableBytes: UInt64

    /// Parses `df -Pk` output: a header, then `filesystem 1024-blocks used available capacity mountpoint`.
    public init(dfPortable text: String, path: String) throws {
        let lines = text.split(separator: "\n")
        guard lines.count >= 2, lines[0].hasPrefix("Filesystem") else {
            throw BoardOutputError(source: "df -Pk \(path)", problem: "no df table", output: text)
        }
        let fields = lines[1].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, let total = UInt64(fields[1]), let available = UInt64(fields[3]) else {
            throw BoardOutputError(source: "df -Pk \(path)", problem: "unexpected columns", output: String(lines[1]))
        }
        self.path = path
        mountPoint = fields[5...].joined(separator: " ")
        totalBytes = total * 1024
        availableBytes = available * 1024
    }
}
