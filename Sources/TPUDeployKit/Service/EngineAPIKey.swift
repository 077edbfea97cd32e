import Foundation

/// The key the engine's API asks for (`Authorization: Bearer KEY`), and where it came from, for messages.
/// It is never taken from a command line, never printed, and reaches the board on a command's standard input.
public struct EngineAPIKey: Sendable, Equatable {
    public let value: String
    /// Where the key came from, for messages: `TPUDEPLOY_API_KEY`, `--api-key-file FILE`, `the prompt`.
    public let source: String

    /// Checks `value`: one line of printable ASCII, as an HTTP header carries it.
    public init(_ value: String, source: String) throws {
        if value.isEmpty { throw EngineAccessError.unusableKey(source: source, reason: "it is empty") }
        guard value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw EngineAccessError.unusableKey(
                source: source, reason: "it holds a space or a character an HTTP header cannot carry (printable ASCII only)")
        }
        self.value = value
        self.source = source
    }

    /// The key on the first line of `text` (a key file), without its line end.
    public init(fileText text: String, source: String) throws {
        // "\r\n" is one Character in Swift: split on either line end.
        let line = text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first ?? ""
        try self.init(String(line).trimmingCharacters(in: CharacterSet(charactersIn: " \t\r")), source: source)
    }
}

/// Why the engine's API could not be used.
public enum EngineAccessError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The engine wants a key and none was given.
    case keyNeeded(deployment: String)
    /// The engine refused the key given.
    case keyRefused(deployment: String, source: String)
    case unusableKey(source: String, reason: String)
    /// Nothing listens on the engine's port on the board.
    case notListening(deployment: String, port: Int, target: String)
    /// The engine on the deployment's port is another deployment's.
    case otherDeployment(deployment: String, serving: String, port: Int, target: String)

    public var description: String {
        switch self {
        case .keyNeeded(let deployment):
            return "the engine of \(deployment) was launched with an API key and none was given: set TPUDEPLOY_API_KEY, or pass --api-key-file FILE (a file holding the key given to `tpudeploy launch`); on a terminal you are asked for it."
        case .keyRefused(let deployment, let source):
            return "the engine of \(deployment) refused the API key from \(source): it was launched with another. Pass the key given to `tpudeploy launch` (TPUDEPLOY_API_KEY or --api-key-file FILE), or launch again with this one."
        case .unusableKey(let source, let reason):
            return "the API key from \(source) cannot be used: \(reason). Write the key alone on the first line."
        case .notListening(let deployment, let port, let target):
            return "nothing answers on 127.0.0.1:\(port) on \(target): the engine of \(deployment) is not running there. See `tpudeploy status` and `tpudeploy logs`; start it with `tpudeploy launch` (or name the right deployment with --name / --engine-port)."
        case .otherDeployment(let deployment, let serving, let port, let target):
            return "127.0.0.1:\(port) on \(target) is the engine of deployment \(serving), not of \(deployment): no engine of \(deployment) answers there. Name the deployment you mean with --name (--name \(serving) for that one), or give \(deployment)'s port with --engine-port; `tpudeploy status --name \(deployment)` shows whether it runs."
        }
    }
}

/// The key's file in a deployment on the board: `service/api-key`, mode 0600, owned by the user the engine
/// runs as; the engine reads it with `--api-key-file`, so the key is in no command line and no unit file.
public enum EngineAPIKeyFile {
    public static func path(directory: String) -> String { directory + "/service/api-key" }

    /// Writes standard input (the key) to the file, or removes the file when `present` is false. Run as root;
    /// its arguments: directory, owner, `write` or `remove`. Nothing of the key is in the script.
    static let script = """
        set -eu
        dir=$1; owner=$2; action=$3
        key="$dir/service/api-key"
        if [ "$action" = remove ]; then rm -f "$key" "$key.tmp"; echo "@@api-key removed"; exit 0; fi
        mkdir -p "$dir/service"
        umask 077
        rm -f "$key.tmp"
        cat > "$key.tmp"
        chown "$owner" "$key.tmp"
        chmod 0600 "$key.tmp"
        mv -f "$key.tmp" "$key"
        echo "@@api-key written"
        """
}

extension EngineServiceManager {
    /// Puts `key` where the engine of `spec` reads it, or removes an old one when `key` is nil, before the
    /// service starts. The key travels on the command's standard input.
    public func installAPIKey(_ key: EngineAPIKey?, for spec: EngineLaunchSpec) async throws {
        let arguments = [spec.directory, spec.user, key == nil ? "remove" : "write"].map(shellQuoted).joined(separator: " ")
        let input = key.map { Array(($0.value + "\n").utf8) }
        let result = try await root.run("set -- \(arguments)\n" + EngineAPIKeyFile.script, input: input, timeout: 30)
        guard result.succeeded, result.stdoutText.contains("@@api-key") else {
            let reason = result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ServiceError.scriptFailed(
                "cannot write the API key file \(EngineAPIKeyFile.path(directory: spec.directory)) on the board: \(reason.isEmpty ? "no reason given" : reason)")
        }
    }
}

extension EngineAccessError: CodedError {
    public var errorCode: String {
        switch self {
        case .keyNeeded: return "api_key_needed"
        case .keyRefused: return "api_key_refused"
        case .unusableKey: return "api_key_unusable"
        case .notListening: return "engine_not_listening"
        case .otherDeployment: return "engine_of_other_deployment"
        }
    }
}
