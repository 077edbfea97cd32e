import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `--limit` pattern, as Ansible reads one: terms joined by `:` (or `,`), each a group, a host, a
/// wildcard (`evb*`), a regular expression (`~evb0[1-3]`), a slice (`lab[0:4]`, both ends included) or `@file`
/// (host names or patterns, one a line, such as a retry file); `&term` intersects, `!term` excludes.
/// Evaluation follows Ansible's order: the plain terms are united, then every `&` term intersects, then
/// every `!` term removes — wherever each is written.
public struct HostLimit: Sendable, Equatable {
    public var pattern: String

    public init(_ pattern: String) { self.pattern = pattern }

    /// The hosts selected, in inventory order, and warnings for terms that matched nothing.
    /// `readFile` reads an `@file` (injected so the rules are tested without files).
    public func select(from inventory: Inventory, readFile: (String) throws -> String = Self.readFile) throws -> (hosts: [String], warnings: [String]) {
        var unions: [String] = []
        var intersections: [String] = []
        var exclusions: [String] = []
        for term in Self.terms(of: pattern) {
            if term.hasPrefix("&") { intersections.append(String(term.dropFirst())) }
            else if term.hasPrefix("!") { exclusions.append(String(term.dropFirst())) }
            else { unions.append(term) }
        }
        if unions.isEmpty { unions = ["all"] }
        var warnings: [String] = []
        func resolve(_ term: String) throws -> Set<String> {
            guard !term.isEmpty else { throw InventoryError(.badPattern, key: "--limit", "'\(pattern)' has an empty term after '&' or '!'") }
            if term.hasPrefix("@") {
                let file = String(term.dropFirst())
                let text: String
                do { text = try readFile(file) } catch {
                    throw InventoryError(.badPattern, file: file, key: "--limit", "cannot read the host list named by @\(file)")
                }
                let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                return try lines.reduce(into: Set<String>()) { $0.formUnion(try resolve($1)) }
            }
            let matches = try Self.matches(term, in: inventory)
            if matches.isEmpty { warnings.append("--limit: '\(term)' matches no group or host; ignored") }
            return matches
        }
        var selected: Set<String> = []
        for term in unions { selected.formUnion(try resolve(term)) }
        for term in intersections { selected.formIntersection(try resolve(term)) }
        for term in exclusions { selected.subtract(try resolve(term)) }
        let hosts = inventory.hostNames.filter(selected.contains)
        guard !hosts.isEmpty else {
            throw InventoryError(.noHostsSelected, file: inventory.source, key: "--limit",
                                 "'\(pattern)' selects no host of the inventory\(warnings.isEmpty ? "" : " (\(warnings.joined(separator: "; ")))")")
        }
        return (hosts, warnings)
    }

    public static func readFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw InventoryError(.unreadable, file: path, "cannot read") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Splits at `,` when there is one, else at every `:` outside brackets (so `lab[0:4]` stays whole).
    static func terms(of pattern: String) -> [String] {
        let trimmed = pattern.trimmingCharacters(in: .whitespaces)
        if trimmed.contains(",") {
            return trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var terms: [String] = []
        var current = ""
        var depth = 0
        for character in trimmed {
            if character == "[" { depth += 1 }
            if character == "]" { depth -= 1 }
            if character == ":" && depth == 0 {
                terms.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        terms.append(current)
        return terms.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The hosts one term names: groups whose name matches (with their children's hosts), then hosts.
    static func matches(_ term: String, in inventory: Inventory) throws -> Set<String> {
        if let slice = try Slice(term) {
            let hosts = try matches(slice.base, in: inventory)
            let ordered = inventory.hostNames.filter(hosts.contains)
            return Set(slice.indices(count: ordered.count).map { ordered[$0] })
        }
        if term == "all" || term == "*" { return Set(inventory.hostNames) }
        let nameMatches: (String) -> Bool
        if term.hasPrefix("~") {
            let expression: NSRegularExpression
            do { expression = try NSRegularExpression(pattern: String(term.dropFirst())) } catch {
                throw InventoryError(.badPattern, key: "--limit", "'\(term)' is not a valid regular expression")
            }
            nameMatches = { name in
                expression.firstMatch(in: name, options: [.anchored], range: NSRange(name.startIndex..., in: name)) != nil
            }
        } else if term.contains("*") || term.contains("?") {
            nameMatches = { fnmatch(term, $0, 0) == 0 }
        } else {
            nameMatches = { $0 == term }
        }
        var result: Set<String> = []
        for group in inventory.groups.keys where nameMatches(group) { result.formUnion(inventory.hosts(in: group)) }
        for host in inventory.hostNames where nameMatches(host) { result.insert(host) }
        return result
    }

    /// `base[i]`, `base[i:j]`, `base[i:]`, `base[:j]`: positions in the base's hosts, from 0, `j` included,
    /// negative counting from the end.
    struct Slice {
        var base: String
        var start: Int?
        var end: Int?
        var single: Bool

        init?(_ term: String) throws {
            guard term.hasSuffix("]"), let open = term.lastIndex(of: "["), open != term.startIndex, !term.hasPrefix("~") else { return nil }
            base = String(term[..<open])
            let inside = term[term.index(after: open)..<term.index(before: term.endIndex)]
            let parts = inside.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            func number(_ text: String) throws -> Int? {
                if text.isEmpty { return nil }
                guard let value = Int(text) else {
                    throw InventoryError(.badPattern, key: "--limit", "'\(term)': '\(text)' is not a position (a whole number)")
                }
                return value
            }
            switch parts.count {
            case 1:
                guard let index = try number(parts[0]) else { throw InventoryError(.badPattern, key: "--limit", "'\(term)': empty subscript") }
                start = index
                end = index
                single = true
            case 2:
                start = try number(parts[0])
                end = try number(parts[1])
                single = false
                if start == nil && end == nil {
                    throw InventoryError(.badPattern, key: "--limit", "'\(term)': a slice needs a start or an end")
                }
            default:
                throw InventoryError(.badPattern, key: "--limit", "'\(term)': a subscript is [i] or [i:j]")
            }
        }

        func indices(count: Int) -> [Int] {
            func absolute(_ index: Int) -> Int { index < 0 ? count + index : index }
            let first = max(0, absolute(start ?? 0))
            let last = min(count - 1, end.map(absolute) ?? count - 1)
            guard first <= last else { return [] }
            return Array(first...last)
        }
    }
}
