import Foundation

/// An OpenSSH client configuration named by a project file (`target.ssh_config` in tpudeploy.yaml), read
/// without the directives that run commands on this machine.
///
/// A project file comes with a cloned repository, so it must not be able to run anything here just because
/// someone typed `tpudeploy inspect` in that directory. libssh 0.10.6 runs `ProxyCommand` at connect,
/// turns `ProxyJump` into a `ssh -W …` ProxyCommand (through the shell), runs `Match exec` while it parses,
/// and reads any file an `Include` names. Those are removed here, as are `LocalCommand`, `PermitLocalCommand`
/// and `KnownHostsCommand` (which libssh ignores today but OpenSSH runs). Only the user's own `~/.ssh/config`
/// or a file given with `--ssh-config` is read as it is.
///
/// The lines are cut the way libssh reads them (`fgets` of 1024 bytes, keywords split on blanks and `=`,
/// quotes, any case), so what libssh sees is exactly what is checked here.
public struct ProjectSSHConfig: Sendable, Equatable {
    /// A directive left out, by line number (from 1) in the file.
    public struct IgnoredDirective: Sendable, Equatable {
        public var line: Int
        public var directive: String
    }

    /// The configuration text libssh is given.
    public var text: String
    public var ignored: [IgnoredDirective]

    /// Keywords (lower case) whose lines are removed.
    static let commandKeywords: [String: String] = [
        "proxycommand": "ProxyCommand", "proxyjump": "ProxyJump", "localcommand": "LocalCommand",
        "permitlocalcommand": "PermitLocalCommand", "knownhostscommand": "KnownHostsCommand", "include": "Include",
    ]
    /// libssh reads a configuration with `fgets` into 1024 bytes: a longer line is cut and its rest read as
    /// the next line, where a directive could hide. Such lines are removed whole.
    static let longestLine = 1000

    /// Filters the bytes of a configuration file.
    public init(bytes: [UInt8]) {
        var kept: [String] = []
        var ignored: [IgnoredDirective] = []
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            if raw.count > Self.longestLine || raw.contains(0) {
                ignored.append(IgnoredDirective(line: number, directive: raw.contains(0) ? "the text (it holds a NUL byte)" : "the text (longer than \(Self.longestLine) bytes)"))
                kept.append("# removed by tpudeploy")
                continue
            }
            let line = String(decoding: raw, as: UTF8.self)
            let keyword = Self.keyword(of: Array(raw)).lowercased()
            if let name = Self.commandKeywords[keyword] {
                ignored.append(IgnoredDirective(line: number, directive: name))
                kept.append("# removed by tpudeploy: \(name)")
            } else if keyword == "match", line.lowercased().contains("exec") {
                // The block must still end the one before it and must not apply: a Match that never matches.
                ignored.append(IgnoredDirective(line: number, directive: "Match exec"))
                kept.append("Match !all")
            } else {
                kept.append(line)
            }
        }
        text = kept.joined(separator: "\n")
        self.ignored = ignored
    }

    /// Reads and filters `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TargetError.sshConfigUnreadable(path: path)
        }
        self.init(bytes: Array(data))
    }

    /// The first token of a line as libssh's `ssh_config_get_token` cuts it: leading blanks skipped, a quoted
    /// token up to its closing quote, else up to a blank or `=`.
    static func keyword(of fullLine: [UInt8]) -> String {
        // libssh first trims trailing white space (`isspace`), so "ProxyCommand\r" is ProxyCommand.
        var line = fullLine
        while let last = line.last, [9, 10, 11, 12, 13, 32].contains(last) { line.removeLast() }
        var index = 0
        while index < line.count, line[index] == UInt8(ascii: " ") || line[index] == UInt8(ascii: "\t") { index += 1 }
        var token: [UInt8] = []
        if index < line.count, line[index] == UInt8(ascii: "\"") {
            index += 1
            while index < line.count, line[index] != UInt8(ascii: "\"") { token.append(line[index]); index += 1 }
        } else {
            while index < line.count, ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "=")].contains(line[index]) {
                token.append(line[index])
                index += 1
            }
        }
        return String(decoding: token, as: UTF8.self)
    }

    /// One line for the user per directive left out of `path`, which `projectFile` named.
    public func warnings(path: String, projectFile: String) -> [String] {
        ignored.map {
            "ignoring \($0.directive) on line \($0.line) of \(path) (named by \(projectFile)): a project file may not run commands on this machine; if you trust \(path), pass it with --ssh-config \(path)"
        }
    }
}
