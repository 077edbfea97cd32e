/// A group of an inventory: its own hosts, its child groups and its variables.
public struct InventoryGroup: Sendable, Equatable {
    public var name: String
    /// Hosts listed in this group itself, in inventory order (children's hosts are not repeated here).
    public var hosts: [String] = []
    public var children: [String] = []
    public var variables: [String: InventoryValue] = [:]
}

/// Hosts, groups and variables read from an Ansible inventory (INI, YAML or an executable's JSON), with the
/// implicit groups `all` and `ungrouped` as Ansible has them.
public struct Inventory: Sendable, Equatable {
    /// Where it was read from, for messages.
    public var source: String
    /// Every host, in the order the inventory first names them.
    public private(set) var hostNames: [String] = []
    public private(set) var groups: [String: InventoryGroup] = ["all": InventoryGroup(name: "all"), "ungrouped": InventoryGroup(name: "ungrouped")]
    private var hostVariables: [String: [String: InventoryValue]] = [:]
    /// Where each variable was written (INI and YAML; an executable's JSON has no lines), for errors about it.
    private var hostVariableLines: [String: [String: Int]] = [:]
    private var groupVariableLines: [String: [String: Int]] = [:]
    /// Things Ansible would warn about (an unexpected key in a YAML group, …).
    public var warnings: [String] = []

    public init(source: String) {
        self.source = source
        groups["all"]?.children = ["ungrouped"]
    }

    // MARK: Building

    mutating func addGroup(_ name: String) {
        if groups[name] == nil {
            groups[name] = InventoryGroup(name: name)
            if name != "all" { groups["all"]?.children.append(name) }
        }
    }

    mutating func addHost(_ name: String, to group: String? = nil) {
        if hostVariables[name] == nil {
            hostVariables[name] = [:]
            hostNames.append(name)
        }
        if let group, group != "all" {
            addGroup(group)
            if !(groups[group]?.hosts.contains(name) ?? true) { groups[group]?.hosts.append(name) }
        }
    }

    /// Makes `child` a child of `parent`; refuses a cycle, which Ansible refuses too.
    mutating func addChild(_ child: String, to parent: String) throws {
        addGroup(parent)
        addGroup(child)
        guard child != "all" else {
            throw InventoryError(.syntax, file: source, key: parent, "the group 'all' cannot be a child of another group")
        }
        if child == parent || descendants(of: child).contains(parent) {
            throw InventoryError(.syntax, file: source, key: parent, "making '\(child)' a child of '\(parent)' would make a group its own ancestor")
        }
        if !(groups[parent]?.children.contains(child) ?? true) { groups[parent]?.children.append(child) }
    }

    mutating func setVariable(_ key: String, _ value: InventoryValue, host: String, line: Int? = nil) {
        addHost(host)
        hostVariables[host]?[key] = value
        hostVariableLines[host, default: [:]][key] = line
    }

    mutating func setVariable(_ key: String, _ value: InventoryValue, group: String, line: Int? = nil) {
        addGroup(group)
        groups[group]?.variables[key] = value
        groupVariableLines[group, default: [:]][key] = line
    }

    // MARK: Reading

    /// The groups under `group`, recursively (not including it).
    public func descendants(of group: String) -> Set<String> {
        var seen: Set<String> = []
        var pending = groups[group]?.children ?? []
        while let next = pending.popLast() {
            if seen.insert(next).inserted { pending += groups[next]?.children ?? [] }
        }
        return seen
    }

    /// The hosts of `group` and of all its descendants, in inventory order; `all` is every host and
    /// `ungrouped` the hosts in no group but `all`.
    public func hosts(in group: String) -> [String] {
        switch group {
        case "all": return hostNames
        case "ungrouped": return hostNames.filter { groupsContaining($0).subtracting(["all", "ungrouped"]).isEmpty }
        default:
            guard groups[group] != nil else { return [] }
            let members = Set(([group] + descendants(of: group)).flatMap { groups[$0]?.hosts ?? [] })
            return hostNames.filter(members.contains)
        }
    }

    /// Every group `host` belongs to, directly or through a child group, with `all` (and `ungrouped` when it is in no other).
    public func groupsContaining(_ host: String) -> Set<String> {
        guard hostVariables[host] != nil else { return [] }
        let direct = groups.values.filter { $0.hosts.contains(host) }.map(\.name)
        var result: Set<String> = ["all"]
        for group in direct {
            result.insert(group)
            result.formUnion(ancestors(of: group))
        }
        if result == ["all"] || result == ["all", "ungrouped"] { result.insert("ungrouped") }
        return result
    }

    private func ancestors(of group: String) -> Set<String> {
        Set(groups.values.filter { descendants(of: $0.name).contains(group) }.map(\.name))
    }

    /// How far a group is below `all`: its longest path from `all`, as Ansible counts a group's depth.
    func depth(of group: String) -> Int {
        if group == "all" { return 0 }
        let parents = groups.values.filter { $0.children.contains(group) }.map(\.name)
        return 1 + (parents.map { depth(of: $0) }.max() ?? 0)
    }

    /// The host's own variables, without its groups'.
    public func ownVariables(of host: String) -> [String: InventoryValue] { hostVariables[host] ?? [:] }

    /// The variables that apply to `host`, merged as Ansible merges them: `all`, then its groups from the
    /// shallowest to the deepest (a child group over its parent; at equal depth by `ansible_group_priority`,
    /// then by name), then the host's own.
    public func variables(of host: String) -> [String: InventoryValue] {
        var merged: [String: InventoryValue] = [:]
        for group in mergeOrder(of: host) {
            merged.merge(groups[group]?.variables ?? [:]) { _, new in new }
        }
        merged.merge(ownVariables(of: host)) { _, new in new }
        return merged
    }

    /// The line of the definition of `key` that wins for `host`, when the inventory's format has lines.
    public func line(of key: String, for host: String) -> Int? {
        if ownVariables(of: host)[key] != nil { return hostVariableLines[host]?[key] }
        let winner = mergeOrder(of: host).last { groups[$0]?.variables[key] != nil }
        return winner.flatMap { groupVariableLines[$0]?[key] }
    }

    /// The host's groups in the order their variables are merged (the last wins).
    private func mergeOrder(of host: String) -> [String] {
        func priority(_ group: String) -> Int {
            groups[group]?.variables["ansible_group_priority"]?.text.flatMap { Int($0) } ?? 1
        }
        return groupsContaining(host).map { (name: $0, depth: depth(of: $0), priority: priority($0)) }
            .sorted { ($0.depth, $0.priority, $0.name) < ($1.depth, $1.priority, $1.name) }
            .map(\.name)
    }
}
