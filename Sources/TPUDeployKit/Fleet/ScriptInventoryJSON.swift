import Foundation

/// What an executable inventory prints for `--list`, as Ansible's script plugin reads it:
/// `{"group": {"hosts": [...], "vars": {...}, "children": [...]}, "other": ["h1", "h2"],
///   "_meta": {"hostvars": {"h1": {...}}}}`.
enum ScriptInventoryJSON {
    /// Builds the inventory; `hostVariables` is false when there is no `_meta`, so each host's variables
    /// must be asked with `--host NAME`.
    static func parse(list data: Data, source: String) throws -> (inventory: Inventory, hasHostVariables: Bool) {
        let top = try decode(data, source: source, what: "--list")
        guard case .map(let groups) = top else {
            throw InventoryError(.scriptFailed, file: source, "--list printed JSON that is not an object of groups")
        }
        var inventory = Inventory(source: source)
        for name in groups.keys.sorted() where name != "_meta" {
            inventory.addGroup(name)
        }
        for (name, body) in groups.sorted(by: { $0.key < $1.key }) where name != "_meta" {
            switch body {
            case .list(let hosts):
                for host in hosts { inventory.addHost(try hostName(host, source: source, key: name), to: name) }
            case .map(let sections):
                for section in sections.keys.sorted() where !["hosts", "vars", "children"].contains(section) {
                    inventory.warnings.append("\(source): \(name).\(section): skipped; a group has only hosts, vars and children")
                }
                if let hosts = sections["hosts"] {
                    guard case .list(let list) = hosts else { throw InventoryError(.scriptFailed, file: source, key: "\(name).hosts", "expected a list of host names") }
                    for host in list { inventory.addHost(try hostName(host, source: source, key: "\(name).hosts"), to: name) }
                }
                if let vars = sections["vars"] {
                    guard case .map(let variables) = vars else { throw InventoryError(.scriptFailed, file: source, key: "\(name).vars", "expected an object of variables") }
                    for (key, value) in variables { inventory.setVariable(key, value, group: name) }
                }
                if let children = sections["children"] {
                    guard case .list(let list) = children else { throw InventoryError(.scriptFailed, file: source, key: "\(name).children", "expected a list of group names") }
                    for child in list {
                        guard let childName = child.text else { throw InventoryError(.scriptFailed, file: source, key: "\(name).children", "expected group names") }
                        do { try inventory.addChild(childName, to: name) } catch let error as InventoryError {
                            throw InventoryError(.scriptFailed, file: source, key: "\(name).children", error.problem)
                        }
                    }
                }
            case .null:
                continue
            default:
                throw InventoryError(.scriptFailed, file: source, key: name, "a group is an object (hosts, vars, children) or a list of host names")
            }
        }
        guard case .map(let meta)? = groups["_meta"] else { return (inventory, false) }
        if case .map(let hostvars)? = meta["hostvars"] {
            for (host, variables) in hostvars {
                guard case .map(let values) = variables else { throw InventoryError(.scriptFailed, file: source, key: "_meta.hostvars.\(host)", "expected an object of variables") }
                try apply(values, host: host, to: &inventory)
            }
        }
        return (inventory, true)
    }

    /// Adds what `--host NAME` printed.
    static func apply(host data: Data, name: String, to inventory: inout Inventory) throws {
        guard case .map(let values) = try decode(data, source: inventory.source, what: "--host \(name)") else {
            throw InventoryError(.scriptFailed, file: inventory.source, key: name, "--host \(name) printed JSON that is not an object of variables")
        }
        try apply(values, host: name, to: &inventory)
    }

    private static func apply(_ values: [String: InventoryValue], host: String, to inventory: inout Inventory) throws {
        // Variables of a host no group lists: Ansible adds such a host to the inventory too.
        for (key, value) in values { inventory.setVariable(key, value, host: host) }
    }

    private static func hostName(_ value: InventoryValue, source: String, key: String) throws -> String {
        guard case .string(let name) = value, !name.isEmpty else { throw InventoryError(.scriptFailed, file: source, key: key, "expected host names, got \(value)") }
        return name
    }

    private static func decode(_ data: Data, source: String, what: String) throws -> InventoryValue {
        do { return try JSONDecoder().decode(InventoryValue.self, from: data) } catch {
            let start = String(decoding: data.prefix(120), as: UTF8.self)
            throw InventoryError(.scriptFailed, file: source, "\(what) did not print JSON (it began: \(start.debugDescription))")
        }
    }
}
