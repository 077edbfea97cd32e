/// A host entry as an inventory writes it — `evb[01:50]`, `db-[a:f].lab`, `evb1:2222` — expanded to
/// host names and a port, following Ansible's rules: ranges are inclusive, a begin with a leading zero
/// keeps the width (and then the end must have the same width), an optional stride, letters as well as numbers.
struct InventoryHostPattern: Equatable {
    var names: [String]
    var port: Int?

    /// `problem` errors carry no file or line: the parsers add them.
    init(_ entry: String) throws {
        let (pattern, port) = try Self.splitPort(entry)
        self.port = port
        names = try Self.expand(pattern)
    }

    /// `name:port` with the colon outside any `[range]`; a plain IPv6 address (several colons) keeps them all.
    static func splitPort(_ entry: String) throws -> (String, Int?) {
        var depth = 0
        var colons: [String.Index] = []
        for index in entry.indices {
            switch entry[index] {
            case "[": depth += 1
            case "]": depth -= 1
            case ":" where depth == 0: colons.append(index)
            default: break
            }
        }
        guard depth == 0 else { throw InventoryError(.badRange, "'\(entry)' has an unbalanced '[' or ']'") }
        guard colons.count == 1, let colon = colons.first else { return (entry, nil) }
        let portText = entry[entry.index(after: colon)...]
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw InventoryError(.badVariable, "'\(entry)': '\(portText)' after the colon is not a TCP port (1-65535)")
        }
        return (String(entry[..<colon]), port)
    }

    /// Expands the first `[begin:end(:step)]` and, recursively, the rest of the name.
    static func expand(_ pattern: String) throws -> [String] {
        guard let open = pattern.firstIndex(of: "[") else {
            guard !pattern.isEmpty else { throw InventoryError(.syntax, "empty host name") }
            return [pattern]
        }
        guard let close = pattern[open...].firstIndex(of: "]") else {
            throw InventoryError(.badRange, "'\(pattern)': a range opened with '[' is never closed")
        }
        let head = String(pattern[..<open])
        let body = pattern[pattern.index(after: open)..<close]
        let rest = String(pattern[pattern.index(after: close)...])
        let tails = rest.contains("[") ? try expand(rest) : [rest]
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw InventoryError(.badRange, "'\(pattern)': a range is [begin:end] or [begin:end:step]")
        }
        let begin = parts[0].isEmpty ? "0" : parts[0]
        let end = parts[1]
        guard !end.isEmpty else { throw InventoryError(.badRange, "'\(pattern)': the range has no end value") }
        var step = 1
        if parts.count == 3 {
            guard let value = Int(parts[2]), value > 0 else {
                throw InventoryError(.badRange, "'\(pattern)': the step '\(parts[2])' is not a positive whole number")
            }
            step = value
        }
        let items: [String]
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if begin.count == 1, end.count == 1, let first = letters.firstIndex(of: Character(begin)), let last = letters.firstIndex(of: Character(end)) {
            guard first <= last else { throw InventoryError(.badRange, "'\(pattern)': the range must have begin <= end") }
            items = stride(from: first, through: last, by: step).map { String(letters[$0]) }
        } else {
            guard let low = Int(begin), let high = Int(end), low >= 0, high >= 0 else {
                throw InventoryError(.badRange, "'\(pattern)': [\(body)] is neither a range of numbers nor of single letters")
            }
            guard low <= high else { throw InventoryError(.badRange, "'\(pattern)': the range must have begin <= end") }
            let width = begin.hasPrefix("0") && begin.count > 1 ? begin.count : 0
            if width > 0, end.count != width {
                throw InventoryError(.badRange, "'\(pattern)': with a leading zero, begin and end must have the same width ('\(begin)', '\(end)')")
            }
            guard (high - low) / step < 100_000 else { throw InventoryError(.badRange, "'\(pattern)': more than 100000 hosts in one range") }
            items = stride(from: low, through: high, by: step).map { number in
                let digits = String(number)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
        }
        return items.flatMap { item in tails.map { head + item + $0 } }
    }
}
