import Foundation

/// What `make deb` and `make install` record beside the installed files (`share/tpudeploy/build-info.json`):
/// facts the binary cannot learn about itself once installed, such as its git commit and the libfdt it has
/// linked in statically (libfdt has no call that reports its version).
public struct BuildInfo: Codable, Sendable, Equatable {
    public var commit: String?
    public var libfdt: String?
    public var libssh: String?
    /// "static" or "dynamic": how libssh, libcrypto and libfdt are linked.
    public var linkage: String?

    public static let fileName = "build-info.json"

    /// The record of the installed copy this binary belongs to, if it has one.
    public static func installed(locator: ResourceLocator = ResourceLocator()) -> BuildInfo? {
        var roots: [String] = []
        if let home = locator.environment["TPUDEPLOY_HOME"], !home.isEmpty { roots.append(home) }
        roots += locator.installedRoots
        for root in roots {
            if let data = FileManager.default.contents(atPath: root + "/" + fileName),
               let info = try? JSONDecoder().decode(BuildInfo.self, from: data) {
                return info
            }
        }
        return nil
    }
}
