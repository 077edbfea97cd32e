extension BoardMemoryFixer {
    /// Undoes the last fix-memory, or, when /boot/emmcboot.itb is damaged, puts back the newest intact backup
    /// (see `RollbackChoice`); reboots and verifies the restored layout is live. Every candidate is checked
    /// (its recorded sha256, then every FIT hash) before it is installed, through the same staged copy and
    /// rename as a new image; a damaged one is skipped for the next.
    /// `dryRun` chooses and checks the backup as a rollback would, and stops there: status `planned`, with the
    /// backup it would restore; nothing on the board changes.
    public func rollback(_ session: SSHSession, reboot: Bool, dryRun: Bool = false) async throws -> (MemoryFixResult, SSHSession) {
        try await lockBootImage(session, command: "fix-memory --rollback").around {
            try await rollbackHoldingTheLock(session, reboot: reboot, dryRun: dryRun)
        }
    }

    private func rollbackHoldingTheLock(_ session: SSHSession, reboot: Bool, dryRun: Bool) async throws -> (MemoryFixResult, SSHSession) {
        events?(.step("inspecting \(session.target.displayName)"))
        let before = try await inspector().inspect(session)
        guard let dtb = before.dtb else { throw MemoryFixError.unknownDTB(target: session.target.displayName) }
        let shell = try await RootShell.open(session, passwordProvider: passwordProvider)
        let current = try await shell.run("sha256sum \(shellQuoted(files.image)) | cut -d' ' -f1", timeout: 120)
            .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        events?(.step("checking \(files.image)"))
        let health: BootImageHealth
        do { health = try await BootImageHealth.check(files.image, on: session) } catch SSHError.sftpFailed(_, _, let reason) {
            // Unreadable by the login user: judged intact, as before this check existed; the install checks sha256s.
            events?(.step("cannot read \(files.image) to check it (\(reason)); treating it as intact"))
            health = .intact
        }
        if case .damaged(let reason) = health { events?(.step("\(files.image) is damaged (\(reason))")) }
        let backups = try await listBackups(shell)
        var candidates = health.isIntact
            ? RollbackChoice.undoing(backups, currentSHA256: current)
            : RollbackChoice.restoring(backups, currentSHA256: current)
        if !health.isIntact, let onBoot = try await bootPartitionBackup(shell), onBoot.sha256 != current,
            !candidates.contains(where: { $0.sha256 == onBoot.sha256 })
        {
            candidates.append(onBoot)   // the last resort: /data lost or all damaged
        }
        guard !candidates.isEmpty else {
            if health.isIntact { throw MemoryFixError.noBackup(directory: files.backupDirectory) }
            throw MemoryFixError.noIntactBackup(directory: files.backupDirectory, liveImageDamaged: true, skipped: [])
        }

        var skipped: [String] = []
        var chosen: (backup: BootImageBackup, layout: BoardMemoryLayout)?
        for candidate in candidates {
            guard candidate.condition == .ok else {
                skipped.append("\(candidate.path) is \(candidate.condition == .missing ? "missing" : "damaged (its sha256 is not the recorded one)")")
                continue
            }
            events?(.step("checking \(candidate.path)"))
            switch try await Self.readBackup(candidate.path, dtb: dtb, session: session) {
            case .success(let layout): chosen = (candidate, layout)
            case .failure(let problem): skipped.append("\(candidate.path) \(problem.reason)")
            }
            if chosen != nil { break }
        }
        for reason in skipped { events?(.step("skipping \(reason)")) }
        guard let (backup, layout) = chosen else {
            throw MemoryFixError.noIntactBackup(directory: files.backupDirectory, liveImageDamaged: !health.isIntact, skipped: skipped)
        }

        if dryRun {
            var planned = MemoryFixResult(status: .planned, target: session.target.displayName, board: before.board ?? "unknown", dtb: dtb, plan: nil)
            planned.restoredBackup = backup.path
            planned.restoredFromDamage = !health.isIntact
            planned.liveHeapsAfter = heapSizes(of: layout)
            return (planned, session)
        }
        events?(.step("restoring \(backup.path)"))
        let install: CommandResult
        // A damaged live image is worth no backup; an intact one is kept (once) so that nothing is lost.
        let reusable = backups.last { $0.sha256 == current && $0.condition == .ok }?.path
        events?(.replacingBootImage)
        do {
            install = try await shell.run(files.installScript(
                source: backup.path, newSHA: backup.sha256, expectedCurrentSHA: current, stamp: Self.stamp(), keepSource: true,
                reason: .rollback, reusing: reusable, backingUp: health.isIntact, dataBackupRequired: false),
                timeout: 900)
        } catch let error as SSHError {
            throw MemoryFixError.installStateUnknown(reason: "\(error)")
        }
        let installed = try Self.installOutcome(install)
        for note in Self.installNotes(install) { events?(.step(note)) }
        let kept = (boot: installed.boot == "-" ? nil : installed.boot, data: installed.data == "-" ? nil : installed.data)
        events?(.bootImageReplaced(bootBackup: kept.boot, dataBackup: kept.data))
        _ = try? await pruneBackups(shell, keepingNewest: BackupRetention.newestKept)

        var result = MemoryFixResult(
            status: .rolledBack, target: session.target.displayName, board: before.board ?? "unknown", dtb: dtb, plan: nil,
            bootBackup: kept.boot, dataBackup: kept.data)
        result.restoredBackup = backup.path
        result.restoredFromDamage = !health.isIntact
        guard reboot else {
            result.status = .rebootPending
            return (result, session)
        }
        let (live, fresh) = try await rebootAndVerify(
            shell, expected: heapSizes(of: layout), backups: (kept.boot ?? backup.path, kept.data ?? backup.path))
        result.liveHeapsAfter = live
        return (result, fresh)
    }

    /// The backup kept on /boot (`emmcboot.itb.tpudeploy-bak`), as a candidate, when it exists.
    private func bootPartitionBackup(_ shell: RootShell) async throws -> BootImageBackup? {
        let output = try await shell.run("[ -f \(shellQuoted(files.bootBackup)) ] && sha256sum \(shellQuoted(files.bootBackup)) | cut -d' ' -f1", timeout: 120)
        let sha = output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard sha.count == 64 else { return nil }
        return BootImageBackup(stamp: "-", sha256: sha, path: files.bootBackup, condition: .ok)
    }

    /// Reads a backup over SFTP once: every FIT hash must match (U-Boot's check), and it must hold the board's
    /// dtb, whose layout is returned. A damaged backup is a `.failure` with the reason; a lost link throws.
    private static func readBackup(_ path: String, dtb: String, session: SSHSession) async throws -> Result<BoardMemoryLayout, BackupDamage> {
        try await session.withConnection { connection in
            let reader = try SFTPFileReader(connection: connection, path: path)
            if case .damaged(let reason) = try BootImageHealth.check(reader) { return .failure(BackupDamage(reason: "is damaged (\(reason))")) }
            do {
                return .success(try BoardMemoryLayout(deviceTree: try FITImage(source: reader).deviceTreeImage(forDTB: dtb).tree))
            } catch let error as FITError {
                return .failure(BackupDamage(reason: "cannot be used: \(error)"))
            }
        }
    }
}

/// Why a backup was passed over.
struct BackupDamage: Error, Sendable {
    var reason: String
}
