import Foundation

/// The `Payloads` folder: what is pushed beside a model (engine builds per architecture, the service files).
/// Found through the one `ResourceLocator` order: `--payloads`, `$TPUDEPLOY_PAYLOADS`, `$TPUDEPLOY_HOME`, a
/// checkout, the installed layout.
public struct PayloadDirectory: Sendable, Equatable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public static func locate(explicit: String? = nil, locator: ResourceLocator = ResourceLocator()) throws -> PayloadDirectory {
        switch locator.locate(.payloads, explicit: explicit) {
        case .success(let found): return PayloadDirectory(directory: URL(fileURLWithPath: found.path))
        case .failure(let missing): throw PayloadError.directoryNotFound(searched: missing.searched)
        }
    }

    public var supervisorScript: URL { directory.appendingPathComponent("service/tpu-llm-supervise") }
    public var unitTemplate: URL { directory.appendingPathComponent("service/tpu-llm-engine.service") }

    /// The engine build for a board architecture (`uname -m`), cross-built by `make cross`.
    public func engineBuild(architecture: String) -> URL {
        directory.appendingPathComponent("\(architecture)/tpu-llm-engine")
    }
}

public enum PayloadError: Error, CustomStringConvertible, Sendable, Equatable {
    case directoryNotFound(searched: [String])
    case unreadable(path: String, reason: String)
    /// A step that needs the Payloads folder was given none (a caller's mistake, not the user's).
    case notGiven(step: String)

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return "no Payloads folder (service files, engine builds) found; looked in \(searched.joined(separator: ", ")); pass --payloads DIR or set TPUDEPLOY_HOME or TPUDEPLOY_PAYLOADS"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .notGiven(let step):
            return "\(step) needs the Payloads folder (service files, engine builds), and none was located: pass --payloads DIR or set TPUDEPLOY_HOME or TPUDEPLOY_PAYLOADS"
        }
    }
}

extension PayloadError: CodedError {
    public var errorCode: String {
        switch self {
        case .directoryNotFound, .notGiven: return "payloads_not_found"
        case .unreadable: return "payloads_unreadable"
        }
    }
}
