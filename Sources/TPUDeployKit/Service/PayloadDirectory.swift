import Foundation

/// The `Payloads` folder: what is pushed beside a model (engine builds per architecture, the service files).
/// Found like the profiles: `--payloads`, `$TPUDEPLOY_PAYLOADS`, `./Payloads`, beside or above the executable,
/// `/usr/local/share/tpudeploy/Payloads`.
public struct PayloadDirectory: Sendable, Equatable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public static func locate(explicit: String? = nil, executable: String = CommandLine.arguments.first ?? "") throws -> PayloadDirectory {
        var candidates: [String] = []
        if let explicit { candidates.append(explicit) }
        if let fromEnvironment = ProcessInfo.processInfo.environment["TPUDEPLOY_PAYLOADS"] { candidates.append(fromEnvironment) }
        candidates.append(FileManager.default.currentDirectoryPath + "/Payloads")
        var folder = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(folder.appendingPathComponent("Payloads").path)
            folder.deleteLastPathComponent()
        }
        candidates.append("/usr/local/share/tpudeploy/Payloads")
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate + "/service/tpu-llm-supervise") {
            return PayloadDirectory(directory: URL(fileURLWithPath: candidate))
        }
        throw PayloadError.directoryNotFound(searched: candidates)
    }

    public var supervisorScript: URL { directory.appendingPathComponent("service/tpu-llm-supervise") }
    public var unitTemplate: URL { directory.appendingPathComponent("service/tpu-llm-engine.service") }

    /// The engine build for a board architecture (`uname -m`), cross-built by `make cross`.
    public func engineBuild(architecture: String) -> URL {
        directory.appendingPathComponent("\(architecture)/tpu-llm-engine")
    }
}

public enum PayloadError: Error, CustomStringConvertible, Equatable {
    case directoryNotFound(searched: [String])
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return "no Payloads folder (service files, engine builds) found; looked in \(searched.joined(separator: ", ")); pass --payloads DIR or set TPUDEPLOY_PAYLOADS"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        }
    }
}
