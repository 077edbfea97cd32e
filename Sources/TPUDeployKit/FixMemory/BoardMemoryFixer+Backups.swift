extension BoardMemoryFixer {
    /// Lists the backups under /data (each checked against its recorded sha256), oldest first.
    func listBackups(_ shell: RootShell) async throws -> [BootImageBackup] {
        try BootImageBackup.parseList(try await shell.run(files.listBackupsScript, timeout: 300).stdoutText)
    }

    /// Prunes the backups under /data to the factory image and the `keepingNewest` newest intact ones (see
    /// `BackupRetention`) and returns what is kept. A board that cannot rewrite the index keeps its backups:
    /// that is reported as a step, never fatal, since the backups it keeps are all still good.
    func pruneBackups(_ shell: RootShell, keepingNewest count: Int) async throws -> [BootImageBackup] {
        let backups = try await listBackups(shell)
        let plan = BackupRetention(backups: backups, directory: files.backupDirectory, keepingNewest: count)
        guard plan.changesAnything else { return backups }
        events?(.step("pruning old backups in \(files.backupDirectory)"))
        let result = try await shell.run(files.pruneScript(lines: plan.indexLines(), removing: plan.removedFiles), timeout: 120)
        let output = result.stdoutText + result.stderrText
        guard output.contains("@@ok") else {
            let reason = output.split(separator: "\n").first { $0.hasPrefix("@@error:") }.map { String($0.dropFirst("@@error:".count)) } ?? output
            events?(.step("could not prune the backups in \(files.backupDirectory): \(reason)"))
            return try await listBackups(shell)
        }
        return plan.kept
    }
}
