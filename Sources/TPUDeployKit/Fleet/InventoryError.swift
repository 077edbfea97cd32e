/// A problem with an inventory, a `--limit` pattern or a rollout setting, naming the file, line and key where
/// there is one. `code` is stable for scripts; the text says what to do.
public struct InventoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable identifiers, also used in JSON output.
    public enum Code: String, Sendable, Codable {
        /// The file cannot be read, or is neither INI, YAML nor an executable.
        case unreadable = "inventory_unreadable"
        /// A line or node the inventory format does not allow.
        case syntax = "inventory_syntax"
        /// A host range such as `evb[01:50]` that cannot be expanded.
        case badRange = "inventory_bad_range"
        /// A variable whose value tpudeploy cannot use (a port that is not a number, a Jinja template).
        case badVariable = "inventory_bad_variable"
        /// An executable inventory failed, timed out or printed something that is not Ansible's JSON.
        case scriptFailed = "inventory_script_failed"
        /// A `--limit` pattern that is malformed or selects no host.
        case badPattern = "limit_bad_pattern"
        case noHostsSelected = "limit_no_hosts"
        /// A rollout setting (`--batch`, `--canary`, `--max-fail`, `--parallel`) out of range.
        case badRolloutSetting = "rollout_bad_setting"
    }

    public var code: Code
    public var file: String?
    public var line: Int?
    public var key: String?
    public var problem: String

    public init(_ code: Code, file: String? = nil, line: Int? = nil, key: String? = nil, _ problem: String) {
        self.code = code
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        var place = ""
        if let file { place += file }
        if let line { place += ":\(line)" }
        if !place.isEmpty { place += ": " }
        if let key { place += "\(key): " }
        return place + problem
    }
}

extension InventoryError: CodedError {
    public var errorCode: String { code.rawValue }
}
