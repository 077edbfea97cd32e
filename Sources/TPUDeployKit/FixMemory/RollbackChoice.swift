/// Which backup `fix-memory --rollback` restores, chosen from the board's backup list (oldest first).
public enum RollbackChoice {
    /// When the live image is intact: undo the last fix-memory. The first candidate is the image the live one
    /// replaced; should that backup be damaged, the image it had replaced, and so on. Backups a rollback made
    /// are never candidates, so rolling back twice does not redo the edit: the second finds nothing to undo.
    /// Old index entries (without what replaced them) fall back to the newest one that differs from the live image.
    public static func undoing(_ backups: [BootImageBackup], currentSHA256 current: String) -> [BootImageBackup] {
        var candidates: [BootImageBackup] = []
        var seen: Set<String> = [current]
        var image = current
        while let previous = backups.last(where: { $0.reason != .rollback && $0.replacedBy == image && !seen.contains($0.sha256) })
            ?? (candidates.isEmpty ? backups.last(where: { $0.reason != .rollback && $0.replacedBy == nil && !seen.contains($0.sha256) }) : nil)
        {
            candidates.append(previous)
            seen.insert(previous.sha256)
            image = previous.sha256
        }
        return candidates
    }

    /// When the live image is damaged (it would not boot): put back the image that was live before the damage
    /// (the one the newest backup's run installed) when a backup of it exists, else the newest backup; then
    /// every other backup, newest first, for when those are damaged too.
    public static func restoring(_ backups: [BootImageBackup], currentSHA256 current: String) -> [BootImageBackup] {
        var ordered = Array(backups.reversed())
        if let installed = backups.last?.replacedBy, let index = ordered.firstIndex(where: { $0.sha256 == installed }) {
            ordered.insert(ordered.remove(at: index), at: 0)
        }
        var seen: Set<String> = [current]
        return ordered.filter { seen.insert($0.sha256).inserted }
    }
}
