import Foundation
import Yams

/// Reads Ansible's YAML inventory format:
/// `all: {hosts: {evb01: {ansible_host: …}}, vars: {…}, children: {group: {hosts: …, vars: …, children: …}}}`.
/// Every top-level key is a group (usually `all`); a group's keys are `hosts`, `vars` and `children` only.
enum YAMLInventoryParser {
    static func parse(_ text: String, file: String) throws -> Inventory {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw InventoryError(.syntax, file: file, "not valid YAML: \(error)")
        }
        var inventory = Inventory(source: file)
        guard let root else { return inventory }
        guard case .mapping(let groups) = root else {
            throw InventoryError(.syntax, file: file, line: root.mark?.line, "expected a mapping of group names at the top level (all: …)")
        }
        var reader = Reader(file: file)
        for (key, value) in groups {
            try reader.group(key, value, parent: nil, into: &inventory)
        }
        return inventory
    }

    private struct Reader {
        let file: String

        func fail(_ code: InventoryError.Code, _ node: Node, key: String, _ problem: String) -> InventoryError {
            InventoryError(code, file: file, line: node.mark?.line, key: key, problem)
        }

        func name(_ node: Node, key: String) throws -> String {
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
                throw fail(.syntax, node, key: key, "expected a name")
            }
            return scalar.string
        }

        mutating func group(_ keyNode: Node, _ node: Node, parent: String?, into inventory: inout Inventory) throws {
            let name = try self.name(keyNode, key: parent.map { "\($0).children" } ?? "(top level)")
            inventory.addGroup(name)
            if let parent {
                do { try inventory.addChild(name, to: parent) } catch let error as InventoryError {
                    throw fail(error.code, keyNode, key: "\(parent).children.\(name)", error.problem)
                }
            }
            if node.isNull { return }
            guard case .mapping(let sections) = node else {
                throw fail(.syntax, node, key: name, "a group is a mapping with hosts, vars and children")
            }
            for (sectionKey, section) in sections {
                let sectionName = try self.name(sectionKey, key: name)
                let path = "\(name).\(sectionName)"
                switch sectionName {
                case "hosts":
                    if section.isNull { continue }
                    guard case .mapping(let hosts) = section else {
                        throw fail(.syntax, section, key: path, "hosts must be a mapping of host names (each with its variables or nothing), not a list or text")
                    }
                    for (hostKey, hostNode) in hosts {
                        let entry = try self.name(hostKey, key: path)
                        let pattern: InventoryHostPattern
                        do { pattern = try InventoryHostPattern(entry) } catch let error as InventoryError {
                            throw fail(error.code, hostKey, key: "\(path).\(entry)", error.problem)
                        }
                        let variables = try self.variables(hostNode, key: "\(path).\(entry)")
                        for host in pattern.names {
                            inventory.addHost(host, to: name)
                            if let port = pattern.port { inventory.setVariable("ansible_port", .int(port), host: host, line: hostKey.mark?.line) }
                            for (key, value, line) in variables { inventory.setVariable(key, value, host: host, line: line) }
                        }
                    }
                case "vars":
                    for (key, value, line) in try variables(section, key: path) { inventory.setVariable(key, value, group: name, line: line) }
                case "children":
                    if section.isNull { continue }
                    guard case .mapping(let children) = section else {
                        throw fail(.syntax, section, key: path, "children must be a mapping of group names")
                    }
                    for (childKey, child) in children { try group(childKey, child, parent: name, into: &inventory) }
                default:
                    inventory.warnings.append("\(file):\(sectionKey.mark?.line ?? 0): \(path): skipped; a group has only hosts, vars and children")
                }
            }
        }

        /// Each variable with the line it is written on.
        func variables(_ node: Node, key: String) throws -> [(String, InventoryValue, Int?)] {
            if node.isNull { return [] }
            guard case .mapping(let mapping) = node else {
                throw fail(.syntax, node, key: key, "expected a mapping of variables (name: value)")
            }
            return try mapping.map { (try name($0.key, key: key), try value($0.value, key: key), $0.key.mark?.line) }
        }

        func value(_ node: Node, key: String) throws -> InventoryValue {
            switch node {
            case .scalar: return InventoryValue.scalar(Constructor.default.any(from: node))
            case .sequence(let items): return .list(try items.map { try value($0, key: key) })
            case .mapping(let mapping):
                var result: [String: InventoryValue] = [:]
                for (itemKey, item) in mapping { result[try name(itemKey, key: key)] = try value(item, key: key) }
                return .map(result)
            case .alias:
                throw fail(.syntax, node, key: key, "YAML aliases are not supported in inventories")
            }
        }
    }
}

private extension Node {
    /// `~`, `null` or nothing.
    var isNull: Bool {
        guard case .scalar = self else { return false }
        return Constructor.default.any(from: self) is NSNull
    }
}
