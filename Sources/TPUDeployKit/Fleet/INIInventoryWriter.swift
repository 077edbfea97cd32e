/// Writes an Ansible INI inventory: one group of hosts, each with its variables inline — what `sim up
/// --inventory` writes for the boards it started, so `fleet` commands and Ansible itself can read it.
public enum INIInventoryWriter {
    public struct Host: Sendable, Equatable {
        public var name: String
        public var variables: [(String, String)]

        public init(name: String, variables: [(String, String)]) {
            self.name = name
            self.variables = variables
        }

        public static func == (lhs: Host, rhs: Host) -> Bool {
            lhs.name == rhs.name && lhs.variables.map { "\($0)=\($1)" } == rhs.variables.map { "\($0)=\($1)" }
        }
    }

    /// `comment` lines become `#` comments at the top.
    public static func text(group: String, hosts: [Host], comment: String) -> String {
        var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" }
        lines.append("[\(group)]")
        for host in hosts {
            lines.append(([host.name] + host.variables.map { "\($0)=\(quoted($1))" }).joined(separator: " "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Quotes a value with spaces or quotes, which shlex would otherwise split; Ansible reads it back unchanged.
    private static func quoted(_ value: String) -> String {
        guard value.contains(where: { $0.isWhitespace || "'\"#\\".contains($0) }) || value.isEmpty else { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\"'\"'") + "'"
    }
}
