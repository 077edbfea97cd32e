/// What Linux reports about its own memory, from `/proc/meminfo` (the source `free` reads).
public struct LinuxMemory: Sendable, Codable, Equatable {
    public var totalBytes: UInt64
    public var availableBytes: UInt64
    public var freeBytes: UInt64

    /// Parses `/proc/meminfo` text: `Key:   value kB` lines; MemTotal, MemFree and MemAvailable are required.
    public init(meminfo text: String) throws {
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let fields = parts[1].split(separator: " ")
            guard let number = fields.first.flatMap({ UInt64($0) }) else { continue }
            let unit = fields.count > 1 ? fields[1].lowercased() : ""
            values[String(parts[0])] = unit == "kb" ? number * 1024 : number
        }
        func required(_ key: String) throws -> UInt64 {
            guard let value = values[key] else {
                throw BoardOutputError(source: "/proc/meminfo", problem: "no \(key) line", output: text)
            }
            return value
        }
        totalBytes = try required("MemTotal")
        freeBytes = try required("MemFree")
        availableBytes = try required("MemAvailable")
        guard availableBytes <= totalBytes, freeBytes <= totalBytes else {
            throw BoardOutputError(source: "/proc/meminfo", problem: "free memory larger than total", output: text)
        }
    }
}
