import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SHA-256 digests of local files remembered between pushes, so that pushing an unchanged multi-GB bmodel again
/// does not read it again. An entry is trusted only while the file keeps the same device, inode, size,
/// modification and change time (the change time moves with any write, and no one can set it back). Like git's
/// index, a digest taken within two seconds of the file's last change is not remembered: the file could still
/// change within the same timestamp. One JSON file, replaced atomically; concurrent pushes may drop each other's
/// new entries, which costs only a re-hash.
public struct LocalHashCache: Sendable {
    public let file: URL

    public init(file: URL) { self.file = file }

    /// `$XDG_CACHE_HOME/tpudeploy/file-hashes.json`, else `~/.cache/tpudeploy/file-hashes.json`.
    public static var forCurrentUser: LocalHashCache? {
        let environment = ProcessInfo.processInfo.environment
        let base: URL
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            base = URL(fileURLWithPath: cache)
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            base = URL(fileURLWithPath: home).appendingPathComponent(".cache")
        } else {
            return nil
        }
        return LocalHashCache(file: base.appendingPathComponent("tpudeploy/file-hashes.json"))
    }

    /// What identifies one version of a file's content.
    public struct FileIdentity: Codable, Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: UInt64
        var modifiedNanoseconds: Int64
        var changedNanoseconds: Int64

        public init(path: String) throws {
            var status = stat()
            guard stat(path, &status) == 0 else {
                throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno)))
            }
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
            size = UInt64(status.st_size)
            modifiedNanoseconds = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
            changedNanoseconds = Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec)
        }
    }

    private struct Entry: Codable {
        var identity: FileIdentity
        var sha256: String
        /// A bmodel whose coefficient ranges matched their check codes when it was hashed (nil: not checked).
        var coefficientsChecked: Bool?
    }

    /// The remembered digest of `path`, if the file is still the one that was hashed.
    public func digest(of path: String, identity: FileIdentity) -> String? {
        guard let entry = load()[Self.key(path)], entry.identity == identity else { return nil }
        return entry.sha256
    }

    /// Whether the remembered version of `path` is a bmodel whose coefficients matched their check codes.
    public func coefficientsChecked(of path: String, identity: FileIdentity) -> Bool {
        guard let entry = load()[Self.key(path)], entry.identity == identity else { return false }
        return entry.coefficientsChecked == true
    }

    /// Remembers `sha256` for `path` as it was when hashed (`identity` taken before reading it), and whether its
    /// coefficients were checked and matched (a damaged bmodel is refused, never remembered as checked).
    public func remember(_ sha256: String, of path: String, identity: FileIdentity, coefficientsChecked: Bool = false, now: Date = Date()) {
        // Racy: changed within two seconds of being hashed. Or changed while it was read: not the same file now.
        let nowNanoseconds = Int64(now.timeIntervalSince1970 * 1e9)
        guard nowNanoseconds - identity.changedNanoseconds >= 2_000_000_000,
              (try? FileIdentity(path: path)) == identity else { return }
        // Files that are gone are forgotten, so the cache holds no more than what is still on disk.
        var entries = load().filter { FileManager.default.fileExists(atPath: $0.key) }
        entries[Self.key(path)] = Entry(identity: identity, sha256: sha256, coefficientsChecked: coefficientsChecked ? true : nil)
        save(entries)
    }

    private static func key(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    private func load() -> [String: Entry] {
        guard let data = try? Data(contentsOf: file) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    private func save(_ entries: [String: Entry]) {
        // A cache: failing to write it only costs a re-hash next time.
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard let data = try? JSONEncoder().encode(entries) else { return }
        try? data.write(to: file, options: .atomic)
    }
}
