import Foundation

/// Reads Ansible's INI inventory format: `[group]` sections of host lines with inline `key=value` variables
/// (Python literals), `[group:vars]` (values are text) and `[group:children]`; hosts before any section are
/// ungrouped; `#` and `;` start comments.
enum INIInventoryParser {
    private enum SectionKind { case hosts, vars, children }

    static func parse(_ text: String, file: String) throws -> Inventory {
        var inventory = Inventory(source: file)
        var group = "ungrouped"
        var kind = SectionKind.hosts
        /// `[g:vars]` for a group no other section names is an error in Ansible; remember where it was.
        var varsSections: [String: Int] = [:]
        var definedGroups: Set<String> = ["all", "ungrouped"]

        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: ["\r"])
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            func fail(_ code: InventoryError.Code, _ problem: String, key: String? = nil) -> InventoryError {
                InventoryError(code, file: file, line: lineNumber, key: key, problem)
            }

            if line.hasPrefix("[") {
                let header = try sectionHeader(line) ?? { throw fail(.syntax, "'\(line)' is not a section header ([group], [group:vars] or [group:children])") }()
                group = header.group
                switch header.kind {
                case nil, "hosts"?: kind = .hosts
                case "vars"?: kind = .vars
                case "children"?: kind = .children
                case let other?: throw fail(.syntax, "section [\(group):\(other)] has an unknown type; use :vars or :children")
                }
                if kind == .vars {
                    if varsSections[group] == nil { varsSections[group] = lineNumber }
                } else {
                    definedGroups.insert(group)
                }
                inventory.addGroup(group)
                continue
            }

            switch kind {
            case .hosts:
                let words = try shellWords(line, problem: { fail(.syntax, $0) })
                guard let entry = words.first else { continue }
                let pattern: InventoryHostPattern
                do { pattern = try InventoryHostPattern(entry) } catch let error as InventoryError {
                    throw fail(error.code, error.problem, key: entry)
                }
                var variables: [(String, InventoryValue)] = []
                for word in words.dropFirst() {
                    guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                        throw fail(.syntax, "expected key=value after the host name, got '\(word)'", key: entry)
                    }
                    variables.append((String(word[..<equals]), InventoryValue.pythonLiteral(String(word[word.index(after: equals)...]))))
                }
                for name in pattern.names {
                    inventory.addHost(name, to: group)
                    if let port = pattern.port { inventory.setVariable("ansible_port", .int(port), host: name, line: lineNumber) }
                    for (key, value) in variables { inventory.setVariable(key, value, host: name, line: lineNumber) }
                }
            case .vars:
                guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                    throw fail(.syntax, "expected key=value in [\(group):vars], got '\(line)'")
                }
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                inventory.setVariable(key, .string(unquoted(value)), group: group, line: lineNumber)
            case .children:
                let words = try shellWords(line, problem: { fail(.syntax, $0) })
                guard words.count == 1, let child = words.first, !child.contains(":") else {
                    throw fail(.syntax, "expected one group name in [\(group):children], got '\(line)'")
                }
                do { try inventory.addChild(child, to: group) } catch let error as InventoryError {
                    throw fail(error.code, error.problem, key: "[\(group):children]")
                }
                definedGroups.insert(child)
            }
        }
        for (group, line) in varsSections.sorted(by: { $0.value < $1.value }) where !definedGroups.contains(group) {
            throw InventoryError(.syntax, file: file, line: line, key: "[\(group):vars]",
                                 "section for a group no [\(group)] or [parent:children] section defines (a typo?)")
        }
        return inventory
    }

    /// `[name]` or `[name:kind]`, with an optional comment after it.
    private static func sectionHeader(_ line: String) -> (group: String, kind: String?)? {
        guard let close = line.firstIndex(of: "]") else { return nil }
        let after = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
        guard after.isEmpty || after.hasPrefix("#") || after.hasPrefix(";") else { return nil }
        let inside = line[line.index(after: line.startIndex)..<close]
        let parts = inside.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, !name.isEmpty, !name.contains(where: \.isWhitespace) else { return nil }
        return (name, parts.count == 2 ? parts[1] : nil)
    }

    /// A `:vars` value keeps its text; only one pair of surrounding quotes is removed.
    private static func unquoted(_ value: String) -> String {
        if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
            return String(value.dropFirst().dropLast())
        }
        return value
    }

    /// Splits a line as Python's `shlex.split(line, comments=True)` does for inventories: whitespace
    /// separates words, quotes group and are removed, a `#` at the start of a word ends the line.
    static func shellWords(_ line: String, problem: (String) -> InventoryError) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open { quote = nil } else if character == "\\" && open == "\"" { escaped = true } else { current.append(character) }
                continue
            }
            switch character {
            case "\"", "'":
                quote = character
                inWord = true
            case "\\":
                escaped = true
                inWord = true
            case "#" where !inWord:
                return words
            case _ where character.isWhitespace:
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw problem("a quote is not closed in '\(line)'") }
        if inWord { words.append(current) }
        return words
    }
}
