import Foundation

/// Where the relay agent for a board's architecture comes from: an explicit file, or the builds of this
/// checkout — the native build when the board runs the host's architecture (simulated boards), else
/// `Payloads/<arch>/tpu-relay-agent` made by `make cross` (as for the engine, `EngineSource`).
public enum RelayAgentSource: Sendable, Equatable {
    case file(String)
    case builds(payloadsDirectory: String, nativeBuild: String?, hostArch: String)

    public static let fileName = "tpu-relay-agent"

    /// The builds beside `executable` (SwiftPM puts every product of the package in one folder) and under
    /// `payloadsDirectory`.
    public static func beside(executable: String, payloadsDirectory: String) -> RelayAgentSource {
        .builds(payloadsDirectory: payloadsDirectory,
                nativeBuild: (executable as NSString).deletingLastPathComponent + "/" + fileName, hostArch: EngineSource.hostArch)
    }

    /// What a lookup found: the agent's path, or the paths searched.
    public enum Lookup: Sendable, Equatable {
        case found(String)
        case missing(searched: [String])
    }

    /// The agent for `arch`, or the paths searched.
    public func path(forArch arch: String, exists: (String) -> Bool = { FileManager.default.isExecutableFile(atPath: $0) }) -> Lookup {
        switch self {
        case .file(let path): return exists(path) ? .found(path) : .missing(searched: [path])
        case .builds(let payloads, let native, let hostArch):
            var searched: [String] = []
            if arch == hostArch, let native {
                if exists(native) { return .found(native) }
                searched.append(native)
            }
            let cross = payloads + "/" + arch + "/" + Self.fileName
            if exists(cross) { return .found(cross) }
            searched.append(cross)
            return .missing(searched: searched)
        }
    }
}
