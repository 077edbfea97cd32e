import Foundation

/// `tpudeploy version`: what this binary is, what it was linked with, and which resources it would use.
public struct VersionReport: Codable, Sendable, Equatable {
    public struct PayloadBuild: Codable, Sendable, Equatable {
        /// The board architecture (`uname -m`) the engine is built for.
        public var architecture: String
        public var engine: String
        public var sha256: String
        public var bytes: Int
        /// Whether the simulated libsophon runtime (`sim-runtime/libbmrt.so`) ships beside the engine.
        public var simRuntime: Bool
    }

    public struct Resource: Codable, Sendable, Equatable {
        public var kind: ResourceKind
        /// Nil when none was found.
        public var path: String?
        public var origin: ResourceLocator.Candidate.Origin?
    }

    public var version: String
    /// The git commit built, from the install's build record or the checkout; nil when neither says.
    public var commit: String?
    public var libssh: String
    public var libfdt: String?
    public var linkage: String
    public var payloadBuilds: [PayloadBuild]
    public var resources: [Resource]

    /// Gathers the report; reads the engine builds to hash them.
    public static func current(locator: ResourceLocator = ResourceLocator()) -> VersionReport {
        let info = BuildInfo.installed(locator: locator)
        var resources: [Resource] = []
        var payloadsPath: String?
        var checkoutRoot: String?
        for kind in ResourceKind.allCases {
            switch locator.locate(kind) {
            case .success(let found):
                resources.append(Resource(kind: kind, path: found.path, origin: found.origin))
                if kind == .payloads { payloadsPath = found.path }
                if found.origin == .checkout, kind == .profiles {
                    checkoutRoot = URL(fileURLWithPath: found.path).deletingLastPathComponent().path
                }
            case .failure:
                resources.append(Resource(kind: kind, path: nil, origin: nil))
            }
        }
        let mappedFDT = LoadedLibrary.version(named: "libfdt")
        return VersionReport(
            version: ToolVersion.number,
            commit: checkoutRoot.flatMap(GitCheckout.head(of:)) ?? info?.commit,
            libssh: LibSSHVersion.running,
            libfdt: mappedFDT ?? info?.libfdt,
            linkage: mappedFDT != nil ? "dynamic" : (info?.linkage ?? "static"),
            payloadBuilds: payloadsPath.map(payloadBuilds(in:)) ?? [],
            resources: resources)
    }

    /// Every `ARCH/tpu-llm-engine` in a Payloads folder, hashed.
    static func payloadBuilds(in payloads: String) -> [PayloadBuild] {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: payloads)) ?? []
        return folders.sorted().compactMap { architecture in
            let engine = payloads + "/" + architecture + "/tpu-llm-engine"
            guard let data = FileManager.default.contents(atPath: engine) else { return nil }
            let simRuntime = FileManager.default.fileExists(atPath: payloads + "/" + architecture + "/sim-runtime/libbmrt.so")
            return PayloadBuild(architecture: architecture, engine: engine, sha256: Digest.hex(Digest.sha256([UInt8](data))),
                                bytes: data.count, simRuntime: simRuntime)
        }
    }
}

/// A shared library this process has mapped, read from `/proc/self/maps` (a dynamically linked build).
enum LoadedLibrary {
    /// "1.6.1" for `/usr/lib/x86_64-linux-gnu/libfdt-1.6.1.so` or `libfdt.so.1.6.1`; nil when it is not mapped.
    static func version(named name: String) -> String? {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return nil }
        for line in maps.split(separator: "\n") {
            guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.hasPrefix("/") else { continue }
            let file = URL(fileURLWithPath: String(path)).resolvingSymlinksInPath().lastPathComponent
            if file.hasPrefix(name + "-"), file.hasSuffix(".so") {
                return String(file.dropFirst(name.count + 1).dropLast(3))
            }
            if file.hasPrefix(name + ".so.") { return String(file.dropFirst(name.count + 4)) }
        }
        return nil
    }
}

/// The commit a source checkout has checked out, read from its git metadata without running git.
enum GitCheckout {
    static func head(of root: String) -> String? {
        var gitDirectory = root + "/.git"
        // A worktree's `.git` is a file: "gitdir: /path/to/main/.git/worktrees/NAME".
        if let link = try? String(contentsOfFile: gitDirectory, encoding: .utf8), link.hasPrefix("gitdir: ") {
            gitDirectory = link.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let head = try? String(contentsOfFile: gitDirectory + "/HEAD", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        guard head.hasPrefix("ref: ") else { return head.count == 40 ? head : nil }
        let ref = String(head.dropFirst(5))
        // A branch's commit is in its own file, or in packed-refs (in the common directory for a worktree).
        var common = gitDirectory
        if let text = try? String(contentsOfFile: gitDirectory + "/commondir", encoding: .utf8) {
            let relative = text.trimmingCharacters(in: .whitespacesAndNewlines)
            common = relative.hasPrefix("/") ? relative : gitDirectory + "/" + relative
        }
        for directory in [gitDirectory, common] {
            if let commit = try? String(contentsOfFile: directory + "/" + ref, encoding: .utf8) {
                return commit.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        let packed = (try? String(contentsOfFile: common + "/packed-refs", encoding: .utf8)) ?? ""
        for line in packed.split(separator: "\n") where line.hasSuffix(" " + ref) {
            return String(line.prefix(40))
        }
        return nil
    }
}
