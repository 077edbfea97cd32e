/// The rules for the names and paths tpudeploy puts on a board: a deployment's name, its directory, the names of
/// its files and the user its engine runs as. Checked where they are read (tpudeploy.yaml, flags, the board's
/// manifest), so that a value that could change a board script's meaning never reaches one; the scripts quote
/// every value as well (`shellQuoted`).
public enum BoardNames {
    /// The longest deployment name: it becomes a directory, a systemd unit and an rc.local tag.
    public static let maximumNameLength = 64
    /// The longest remote directory.
    public static let maximumDirectoryLength = 200

    /// Why `name` cannot name a deployment, or nil when it can: ASCII letters, digits, `-`, `_` and `.`, starting
    /// with a letter or digit (it becomes `/data/tpudeploy/NAME` and the systemd unit `tpudeploy-NAME`, whose
    /// names systemd limits to ASCII).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.count > maximumNameLength { return "it is longer than \(maximumNameLength) characters" }
        guard name.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "-_.".unicodeScalars.contains($0) }) else {
            return "it may hold only ASCII letters, digits, '-', '_' and '.'"
        }
        guard let first = name.unicodeScalars.first, isASCIIAlphanumeric(first) else {
            return "it must start with a letter or a digit"
        }
        return nil
    }

    /// `path` as one absolute directory on the board, or why it cannot be one. `//`, `/./` and a trailing `/`
    /// are dropped; `..` is refused (the directory must say where it is). Allowed: ASCII letters, digits and
    /// `/ . _ - +` — the directory goes into the systemd unit and the board's /etc/rc.local, where spaces, `%`,
    /// quotes and control characters would change their meaning.
    public static func normalizedDirectory(_ path: String) -> Result<String, DirectoryProblem> {
        guard path.hasPrefix("/") else { return .failure(.init("it must be an absolute path on the board (start with /)")) }
        guard path.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "/._-+".unicodeScalars.contains($0) }) else {
            return .failure(.init("it may hold only ASCII letters, digits and / . _ - + (no spaces, quotes, $, ` or control characters)"))
        }
        let parts = path.split(separator: "/").filter { $0 != "." }
        if parts.contains("..") { return .failure(.init("it may not contain '..': name the directory itself")) }
        guard !parts.isEmpty else { return .failure(.init("it is the root directory: name a directory of its own, such as /data/tpudeploy/NAME")) }
        let normalized = "/" + parts.joined(separator: "/")
        if normalized.count > maximumDirectoryLength { return .failure(.init("it is longer than \(maximumDirectoryLength) characters")) }
        return .success(normalized)
    }

    /// Why `name` cannot be a file name in a deployment directory (a pushed file, or one the board's manifest
    /// lists), or nil: no `/`, no control characters, not `.` or `..`. These names reach the engine's command line
    /// and the systemd unit, where a newline would start a new directive.
    public static func fileNameProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." { return "it is not a file name" }
        if name.contains("/") { return "it contains '/'" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return "it contains control characters (a newline?)" }
        if name.utf8.count > 255 { return "it is longer than 255 bytes" }
        return nil
    }

    /// Why `user` cannot be a board user the engine runs as, or nil (POSIX portable user names, as `useradd` takes).
    public static func userProblem(_ user: String) -> String? {
        guard !user.isEmpty, user.count <= 32,
              user.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "_-.".unicodeScalars.contains($0) }),
              let first = user.unicodeScalars.first, isASCIIAlphanumeric(first) || first == "_" else {
            return "it is not a user name (ASCII letters, digits, '_', '-', '.', starting with a letter, digit or '_')"
        }
        return nil
    }

    /// Throws unless `name` can name a deployment; `source` says where it came from (`--name`, `tpudeploy.yaml`).
    public static func validatedName(_ name: String, source: String) throws -> String {
        if let problem = nameProblem(name) { throw BoardNameError.invalidName(name, source: source, problem: problem) }
        return name
    }

    /// The normalized directory, or throws saying what is wrong with it and where it came from.
    public static func validatedDirectory(_ path: String, source: String) throws -> String {
        switch normalizedDirectory(path) {
        case .success(let normalized): return normalized
        case .failure(let problem): throw BoardNameError.invalidDirectory(path, source: source, problem: problem.text)
        }
    }

    /// Throws unless `name` can be a file name in a deployment directory.
    public static func validatedFileName(_ name: String, source: String) throws -> String {
        if let problem = fileNameProblem(name) { throw BoardNameError.invalidFileName(name, source: source, problem: problem) }
        return name
    }

    public struct DirectoryProblem: Error, Sendable, Equatable {
        public var text: String
        init(_ text: String) { self.text = text }
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}

/// A name or path that may not go to a board, with where it came from and what to do.
public enum BoardNameError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidName(String, source: String, problem: String)
    case invalidDirectory(String, source: String, problem: String)
    case invalidFileName(String, source: String, problem: String)
    case invalidUser(String, source: String, problem: String)

    public var description: String {
        switch self {
        case .invalidName(let name, let source, let problem):
            return "\(source) \(printable(name)) cannot name a deployment: \(problem). Use a plain name such as llama2-7b (letters, digits, - _ .)."
        case .invalidDirectory(let path, let source, let problem):
            return "\(source) \(printable(path)) cannot be the deployment's directory on the board: \(problem). Use a path such as /data/tpudeploy/NAME."
        case .invalidFileName(let name, let source, let problem):
            return "\(source) \(printable(name)) cannot be a file name on the board: \(problem). Rename the file."
        case .invalidUser(let user, let source, let problem):
            return "\(source) \(printable(user)) cannot run the engine: \(problem)."
        }
    }

    /// The value in quotes with control characters made visible, so a newline in it does not break the message.
    private func printable(_ text: String) -> String {
        var shown = "'"
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f { shown += "\\u{\(String(scalar.value, radix: 16))}" } else { shown.unicodeScalars.append(scalar) }
        }
        return shown + "'"
    }
}

extension BoardNameError: CodedError {
    public var errorCode: String {
        switch self {
        case .invalidName: return "invalid_name"
        case .invalidDirectory: return "invalid_directory"
        case .invalidFileName: return "invalid_file_name"
        case .invalidUser: return "invalid_user"
        }
    }
}

extension BoardNames.DirectoryProblem: CodedError {
    public var errorCode: String { "invalid_directory" }
}
