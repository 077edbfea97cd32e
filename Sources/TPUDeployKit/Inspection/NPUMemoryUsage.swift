/// The NPU memory line of `bm-smi`: how much of the NPU heap is in use, and the SDK it reports.
public struct NPUMemoryUsage: Sendable, Codable, Equatable {
    /// The chip row's name, e.g. "1684X-SOC".
    public var chip: String
    public var usedBytes: UInt64
    public var totalBytes: UInt64
    public var sdkVersion: String?

    /// Parses `bm-smi --text_format` output of a SoC board: a row naming the chip (`1684X-SOC`) followed
    /// by a Memory-Usage cell `usedMB/ totalMB`.
    public init(bmSMI text: String) throws {
        let lines = text.split(separator: "\n").map(String.init)
        guard let chipIndex = lines.firstIndex(where: { $0.contains("-SOC") }) else {
            throw BoardOutputError(source: "bm-smi", problem: "no SoC device row (expected a line with 1684X-SOC)", output: text)
        }
        let chipLine = lines[chipIndex]
        chip = chipLine.split(whereSeparator: { $0 == " " || $0 == "|" }).first { $0.hasSuffix("-SOC") }.map(String.init) ?? "SOC"
        let usage = lines[chipIndex...].lazy.compactMap(Self.memoryUsage(in:)).first
        guard let usage else {
            throw BoardOutputError(source: "bm-smi", problem: "no Memory-Usage cell (used MB/total MB) after the device row", output: text)
        }
        usedBytes = usage.used << 20
        totalBytes = usage.total << 20
        guard usedBytes <= totalBytes else {
            throw BoardOutputError(source: "bm-smi", problem: "used NPU memory larger than total", output: text)
        }
        sdkVersion = lines.lazy.compactMap { line -> String? in
            guard let range = line.range(of: "SDK Version:") else { return nil }
            return line[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "|" }).first.map(String.init)
        }.first
    }

    /// "  123MB/ 7105MB" → (123, 7105).
    private static func memoryUsage(in line: String) -> (used: UInt64, total: UInt64)? {
        guard let match = line.firstMatch(of: /(\d+)\s*MB\s*\/\s*(\d+)\s*MB/),
              let used = UInt64(match.1), let total = UInt64(match.2)
        else { return nil }
        return (used, total)
    }
}
