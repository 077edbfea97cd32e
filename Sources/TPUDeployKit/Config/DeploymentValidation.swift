import Foundation

/// A deployment value `tpudeploy.yaml` would be refused for, or a local file `init` cannot find. `init` checks
/// with the same function the config reader uses, so it never writes a file later commands reject.
public enum DeploymentSettingsError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `key` is the YAML key; `flag` the `init` option that sets it.
    case invalidValue(key: String, flag: String, problem: String)
    case missingFile(flag: String, path: String, resolvedPath: String)

    public var description: String {
        switch self {
        case .invalidValue(_, let flag, let problem):
            return "\(flag) \(problem)"
        case .missingFile(let flag, let path, let resolved):
            let looked = path == resolved ? "" : " (looked at \(resolved): relative paths are read from the project file's directory)"
            return "\(flag) \(path): no such file\(looked). Pass the path of the file to deploy, or copy it there first."
        }
    }
}

extension DeploymentSettings {
    /// The first value of a deployment that later commands would refuse, as (YAML key, init flag, problem).
    static func invalidValue(name: String, remoteDir: String?, port: Int) -> DeploymentSettingsError? {
        if let problem = BoardNames.nameProblem(name) {
            return .invalidValue(key: "name", flag: "--deployment",
                                 problem: "'\(name)' cannot name a deployment: \(problem). Use a plain name such as llama2-7b (letters, digits, - _ .): it becomes a directory and a service on the board")
        }
        if let remoteDir, case .failure(let problem) = BoardNames.normalizedDirectory(remoteDir) {
            return .invalidValue(key: "remote_dir", flag: "--remote-dir",
                                 problem: "'\(remoteDir)' cannot be the deployment's directory on the board: \(problem.text). Use a path such as /data/tpudeploy/\(name)")
        }
        guard (1...65535).contains(port) else {
            return .invalidValue(key: "port", flag: "--engine-port", problem: "\(port) is not a TCP port (1-65535)")
        }
        return nil
    }

    /// Checks what `init` is about to write: the values as the config reader checks them, and that the bmodel and
    /// tokenizer exist (relative paths from the directory of `configFile`, as `push` reads them).
    public func validateForInit(configFile: String) throws {
        if let problem = Self.invalidValue(name: name, remoteDir: remoteDir, port: port) { throw problem }
        let base = (configFile as NSString).deletingLastPathComponent
        for (flag, path) in [("--bmodel", bmodel), ("--tokenizer", tokenizer)] {
            let resolved = path.hasPrefix("/") || base.isEmpty ? path : (base as NSString).appendingPathComponent(path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw DeploymentSettingsError.missingFile(flag: flag, path: path, resolvedPath: resolved)
            }
        }
    }
}

extension DeploymentSettingsError: CodedError {
    public var errorCode: String {
        switch self {
        case .invalidValue: return "invalid_setting"
        case .missingFile: return "missing_file"
        }
    }
}
