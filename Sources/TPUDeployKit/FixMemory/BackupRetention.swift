/// Which boot image backups under /data a board keeps: bounded, so that repeated runs never fill /data (a full
/// /data would block the very rollback the backups are for).
///
/// Kept: the factory image (the first image tpudeploy ever replaced on the board, marked `factory` in the
/// index) and the `newestKept` newest intact backups. One record per image: backups with the same sha256 are
/// one backup, described by its newest record. Damaged and missing backups are dropped. Dropping a backup
/// keeps the undo chain whole: what it was replaced by is handed to the backup it had replaced, so
/// `--rollback` steps over it (to the older image) instead of stopping.
public struct BackupRetention: Sendable, Equatable {
    /// How many backups besides the factory image are kept.
    public static let newestKept = 3

    /// The backups kept, oldest first: the new index.
    public private(set) var kept: [BootImageBackup]
    /// Files to delete: backups no kept record names, and their `multi-*.its` companions.
    public private(set) var removedFiles: [String]
    /// Whether the index must be rewritten or files removed at all.
    public let changesAnything: Bool

    /// Plans the pruning of `backups` (as `listBackupsScript` lists them, oldest first) kept in `directory`.
    public init(backups: [BootImageBackup], directory: String, keepingNewest count: Int = newestKept) {
        let factorySHA = backups.first(where: \.factory)?.sha256 ?? backups.first?.sha256

        // One record per image, at the place of its newest record; an intact copy wins over a damaged one.
        var order: [String] = []
        var bySHA: [String: BootImageBackup] = [:]
        for backup in backups {
            var record = backup
            if let earlier = bySHA[backup.sha256], backup.condition != .ok, earlier.condition == .ok {
                record.path = earlier.path
                record.condition = .ok
            }
            record.factory = backup.sha256 == factorySHA
            bySHA[backup.sha256] = record
            order.removeAll { $0 == backup.sha256 }
            order.append(backup.sha256)
        }
        var records = order.compactMap { bySHA[$0] }

        var keep = Set<String>()
        if let factorySHA { keep.insert(factorySHA) }
        for record in records.reversed() where record.condition == .ok && !record.factory && keep.count < count + (factorySHA == nil ? 0 : 1) {
            keep.insert(record.sha256)
        }
        for dropped in records where !keep.contains(dropped.sha256) && dropped.reason != .rollback {
            guard let successor = dropped.replacedBy else { continue }
            for index in records.indices where records[index].replacedBy == dropped.sha256 {
                records[index].replacedBy = successor
            }
        }
        kept = records.filter { keep.contains($0.sha256) }

        let keptFiles = Set(kept.flatMap { Self.files(of: $0.path) })
        var removed: [String] = []
        for backup in backups {
            for file in Self.files(of: backup.path) where !keptFiles.contains(file) && !removed.contains(file) && Self.isInside(file, directory) {
                removed.append(file)
            }
        }
        removedFiles = removed
        changesAnything = kept != backups || !removed.isEmpty
    }

    /// The index lines for `kept`: `STAMP SHA256 FILE REASON REPLACED_BY [factory]`.
    public func indexLines() -> [String] {
        kept.map { backup in
            let file = backup.path.split(separator: "/").last.map(String.init) ?? backup.path
            return "\(backup.stamp) \(backup.sha256) \(file) \(backup.reason?.rawValue ?? "-") \(backup.replacedBy ?? "-")"
                + (backup.factory ? " factory" : "")
        }
    }

    /// A backup image and the copy of multi.its made with it (`emmcboot-X.itb` → `multi-X.its`).
    static func files(of path: String) -> [String] {
        guard let slash = path.lastIndex(of: "/") else { return [path] }
        let name = path[path.index(after: slash)...]
        guard name.hasPrefix("emmcboot-"), name.hasSuffix(".itb") else { return [path] }
        let stem = name.dropFirst("emmcboot-".count).dropLast(".itb".count)
        return [path, String(path[...slash]) + "multi-" + stem + ".its"]
    }

    /// Only plain files directly in the backup directory are ever removed.
    static func isInside(_ path: String, _ directory: String) -> Bool {
        guard path.hasPrefix(directory + "/") else { return false }
        let name = path.dropFirst(directory.count + 1)
        return !name.isEmpty && !name.contains("/") && name != "index" && !name.hasPrefix(".")
    }
}
