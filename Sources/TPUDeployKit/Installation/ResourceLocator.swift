import Foundation

/// The files tpudeploy ships beside its binary: board and model profiles, the boards' payloads (engine builds,
/// service files) and the scripts it runs on boards.
public enum ResourceKind: String, Sendable, CaseIterable, Codable {
    case profiles, payloads, boardScripts = "board-scripts"

    /// The folder's name in `TPUDEPLOY_HOME` and in the installed layout (`share/tpudeploy/NAME`).
    public var folderName: String {
        switch self {
        case .profiles: return "Profiles"
        case .payloads: return "Payloads"
        case .boardScripts: return "board-scripts"
        }
    }

    /// Where the folder is in a source checkout.
    var checkoutPath: String {
        switch self {
        case .profiles, .payloads: return folderName
        case .boardScripts: return "Sources/TPUDeployKit/Resources/board-scripts"
        }
    }

    /// A file that only a complete folder of this kind has (an empty `Payloads/` of a stray checkout is not one).
    var marker: String {
        switch self {
        case .profiles: return "boards"
        case .payloads: return "service/tpu-llm-supervise"
        case .boardScripts: return "service-status.sh"
        }
    }

    /// The environment variable that names this one folder, ahead of `TPUDEPLOY_HOME`.
    public var environmentVariable: String? {
        switch self {
        case .profiles: return "TPUDEPLOY_PROFILES"
        case .payloads: return "TPUDEPLOY_PAYLOADS"
        case .boardScripts: return nil
        }
    }
}

/// Finds every resource folder the same way, first match wins:
/// 1. the command's own flag (`--profiles`, `--payloads`), then `$TPUDEPLOY_PROFILES` / `$TPUDEPLOY_PAYLOADS`;
/// 2. `$TPUDEPLOY_HOME/{Profiles,Payloads,board-scripts}`;
/// 3. a source checkout: the working directory, or a folder above the executable (`.build/debug/tpudeploy`);
///    for board scripts, also the resource bundle `swift build` puts beside the executable;
/// 4. the installed layout: `PREFIX/share/tpudeploy` for a binary in `PREFIX/bin` (`make install`), then
///    `/usr/share/tpudeploy` (the .deb) and `/usr/local/share/tpudeploy`.
public struct ResourceLocator: Sendable {
    /// The order, as `--help` and the docs state it.
    public static let searchOrder = """
        Profiles, Payloads and board scripts are looked for, first match wins, in: --profiles/--payloads, \
        $TPUDEPLOY_PROFILES/$TPUDEPLOY_PAYLOADS; $TPUDEPLOY_HOME/{Profiles,Payloads,board-scripts}; a source \
        checkout (the working directory, or above the executable); the installed layout (PREFIX/share/tpudeploy \
        beside PREFIX/bin/tpudeploy, /usr/share/tpudeploy, /usr/local/share/tpudeploy).
        """

    /// One place looked at, and why it is on the list.
    public struct Candidate: Sendable, Equatable {
        public enum Origin: String, Sendable, Codable { case flag, environment, home, checkout, build, installed }
        public let path: String
        public let origin: Origin
    }

    public let environment: [String: String]
    public let workingDirectory: String
    /// The running executable, symlinks resolved.
    public let executable: URL
    /// The system-wide installed layouts, after the one beside the executable.
    public let systemRoots: [String]

    public static let defaultSystemRoots = ["/usr/share/tpudeploy", "/usr/local/share/tpudeploy"]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                workingDirectory: String = FileManager.default.currentDirectoryPath,
                executable: String = ResourceLocator.runningExecutable(),
                systemRoots: [String] = ResourceLocator.defaultSystemRoots) {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.executable = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        self.systemRoots = systemRoots
    }

    /// `/proc/self/exe` when there is one (argv[0] may be a bare name found on PATH), else argv[0].
    public static func runningExecutable() -> String {
        if let path = Bundle.main.executableURL?.path, !path.isEmpty { return path }
        return CommandLine.arguments.first ?? ""
    }

    /// The checkouts this run may come from: the working directory, then up to five folders above the executable.
    public var checkoutRoots: [URL] {
        var roots = [URL(fileURLWithPath: workingDirectory)]
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            roots.append(folder)
            folder.deleteLastPathComponent()
        }
        return roots
    }

    /// The installed `share/tpudeploy` folders, most specific first.
    public var installedRoots: [String] {
        let prefix = executable.deletingLastPathComponent().deletingLastPathComponent().path
        return ([prefix + "/share/tpudeploy"] + systemRoots).reduce(into: []) { unique, root in
            if !unique.contains(root) { unique.append(root) }
        }
    }

    /// Every place looked at for `kind`, in order.
    public func candidates(for kind: ResourceKind, explicit: String? = nil) -> [Candidate] {
        var list: [Candidate] = []
        if let explicit { list.append(Candidate(path: explicit, origin: .flag)) }
        if let variable = kind.environmentVariable, let value = environment[variable], !value.isEmpty {
            list.append(Candidate(path: value, origin: .environment))
        }
        if let home = environment["TPUDEPLOY_HOME"], !home.isEmpty {
            list.append(Candidate(path: home + "/" + kind.folderName, origin: .home))
        }
        for root in checkoutRoots {
            list.append(Candidate(path: root.appendingPathComponent(kind.checkoutPath).path, origin: .checkout))
        }
        if kind == .boardScripts {
            // `swift build` copies the kit's resources into a bundle beside the executable (or the test bundle).
            let bundle = executable.deletingLastPathComponent().appendingPathComponent(BoardScriptResources.bundleName)
            list.append(Candidate(path: bundle.appendingPathComponent("board-scripts").path, origin: .build))
            list.append(Candidate(path: bundle.appendingPathComponent("Resources/board-scripts").path, origin: .build))
        }
        for root in installedRoots {
            list.append(Candidate(path: root + "/" + kind.folderName, origin: .installed))
        }
        if kind == .boardScripts {
            // Last: the checkout this library was compiled from (a test bundle run from elsewhere). An installed
            // copy comes first even on the machine that built it.
            let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            list.append(Candidate(path: sources.appendingPathComponent("Resources/board-scripts").path, origin: .build))
        }
        return list
    }

    /// The first complete folder of `kind`, or nil with every place looked at.
    public func locate(_ kind: ResourceKind, explicit: String? = nil) -> Result<Candidate, ResourceNotFound> {
        let all = candidates(for: kind, explicit: explicit)
        if let found = all.first(where: { FileManager.default.fileExists(atPath: $0.path + "/" + kind.marker) }) {
            return .success(found)
        }
        return .failure(ResourceNotFound(kind: kind, searched: all.map(\.path)))
    }
}

/// No complete folder of a kind was found; `searched` lists every place looked at, in order.
public struct ResourceNotFound: Error, Sendable, Equatable {
    public let kind: ResourceKind
    public let searched: [String]
}

extension ResourceNotFound: CodedError {
    public var errorCode: String { "resource_not_found" }
}
