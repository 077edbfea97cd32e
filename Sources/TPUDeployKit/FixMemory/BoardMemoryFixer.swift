import Foundation

/// A fix-memory run prepared against a board: the plan and the new image, nothing written yet.
public struct PreparedMemoryFix: Sendable {
    public let before: BoardReport
    public let board: BoardProfile
    public let dtb: String
    public let sizing: LayoutSizing
    public let edit: BootImageEdit
    public let currentImageSHA256: String
    public let newImageSHA256: String?
    public let space: BootSpace

    /// Whether the board already runs the planned heaps; nil when its live heaps could not be read.
    public var liveMatchesPlan: Bool? { liveHeaps.map { $0 == heapSizes(of: edit.plan.after) } }

    /// Live heap sizes by name (npu/vpu/vpp); an absent heap is missing from the map. Nil when unknown.
    var liveHeaps: [String: UInt64]? {
        guard before.liveHeapsKnown else { return nil }
        var sizes: [String: UInt64] = [:]
        for heap in before.heaps { if let live = heap.liveBytes { sizes[heap.name] = live } }
        return sizes
    }
}

/// What a fix-memory or rollback run did. Encoded for `--json` (schema `tpudeploy.fix-memory/1`).
public struct MemoryFixResult: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// Nothing to do: the requested layout is configured and live.
        case alreadyApplied = "already_applied"
        /// `--dry-run`: planned only.
        case planned
        /// Written; the board was not rebooted (`--no-reboot`), so the layout takes effect on the next boot.
        case rebootPending = "reboot_pending"
        /// Written, rebooted, and the live heaps equal the plan.
        case applied
        /// A backup was restored, rebooted and verified.
        case rolledBack = "rolled_back"
    }

    public var schema = "tpudeploy.fix-memory/1"
    public var status: Status
    public var target: String
    public var board: String
    public var dtb: String
    public var plan: MemoryPlan?
    public var liveHeapsAfter: [String: UInt64]?
    public var bootBackup: String?
    public var dataBackup: String?
    /// `--rollback`: the backup that was put back.
    public var restoredBackup: String?
    /// `--rollback`: true when the live image was damaged, so the newest intact backup was restored rather
    /// than the last fix-memory undone.
    public var restoredFromDamage: Bool?

    public init(status: Status, target: String, board: String, dtb: String, plan: MemoryPlan?,
                liveHeapsAfter: [String: UInt64]? = nil, bootBackup: String? = nil, dataBackup: String? = nil) {
        self.status = status
        self.target = target
        self.board = board
        self.dtb = dtb
        self.plan = plan
        self.liveHeapsAfter = liveHeapsAfter
        self.bootBackup = bootBackup
        self.dataBackup = dataBackup
    }
}

/// Heap sizes by name, the form live and planned layouts are compared in.
func heapSizes(of layout: BoardMemoryLayout) -> [String: UInt64] {
    var sizes: [String: UInt64] = [:]
    for heap in layout.heaps { sizes[heap.kind.rawValue] = heap.size }
    return sizes
}


func sha256Hex(_ bytes: [UInt8]) -> String { Digest.hex(Digest.sha256(bytes)) }

/// Rewrites a board's memory layout: reads its boot image, plans, uploads the new image beside the old,
/// installs it with checked backups, reboots, waits, and verifies the live heaps — or restores a backup.
public struct BoardMemoryFixer: Sendable {
    public var profiles: ProfileStore
    public var passwordProvider: PasswordProvider?
    public var events: MemoryFixEvents?
    public var files = BootFileLayout()
    public var rebootTimeout = 300
    /// Plans shared with other boards of the same run (a fleet rollout): a board whose boot image (by sha256) and
    /// request another board already planned takes that plan without reading its image. Nil: plan on this board.
    public var sharedPlans: BootImagePlans?

    public init(profiles: ProfileStore, passwordProvider: PasswordProvider?, events: MemoryFixEvents?) {
        self.profiles = profiles
        self.passwordProvider = passwordProvider
        self.events = events
    }

    /// Inspects without the full hash check of the boot image: fix-memory checks the image its own way.
    func inspector() -> BoardInspector {
        var inspector = BoardInspector(profiles: profiles, passwordProvider: passwordProvider)
        inspector.checksBootImage = false
        return inspector
    }

    /// The board profile for the dtb the board booted: the one named (which must boot that dtb) or the one found.
    func boardProfile(named name: String?, dtb: String) throws -> BoardProfile {
        if let name {
            let profile = try profiles.board(named: name)
            guard profile.boots(dtb: dtb) else {
                throw MemoryFixError.boardMismatch(board: name, dtb: dtb, suggestion: try profiles.board(booting: dtb)?.name)
            }
            return profile
        }
        guard let found = try profiles.board(booting: dtb) else {
            throw MemoryFixError.noProfileForDTB(dtb: dtb, known: profiles.boardNames)
        }
        return found
    }

    /// Reads the board and its boot image and plans the edit. Changes nothing on the board.
    public func prepare(_ session: SSHSession, board name: String?, choice: LayoutChoice) async throws -> PreparedMemoryFix {
        events?(.step("inspecting \(session.target.displayName)"))
        let before = try await inspector().inspect(session)
        guard let dtb = before.dtb else { throw MemoryFixError.unknownDTB(target: session.target.displayName) }
        let profile = try boardProfile(named: name, dtb: dtb)
        let sizing = try choice.sizing(for: profile)
        let spaceText = try await session.run(files.spaceScript, timeout: 60)
        let space = try BootSpace(text: spaceText.stdoutText)

        let plan: BootImagePlans.Plan
        let currentSHA: String
        if let sharedPlans, let liveSHA = try await liveImageSHA256(session) {
            let key = BootImagePlans.Key(imageSHA256: liveSHA, dtb: dtb, boardProfile: profile.name, sizing: sizing, minimumLinuxMiB: profile.minimumLinuxMiB)
            plan = try await sharedPlans.plan(for: key) {
                let (image, plan) = try await self.readAndPlan(session, dtb: dtb, sizing: sizing, profile: profile)
                // Changed between the hash and the read: this plan is not the key's.
                guard sha256Hex(image) == liveSHA else {
                    throw MemoryFixError.installFailed(reason: "\(self.files.image) changed while tpudeploy read it; run the command again; nothing was changed")
                }
                return plan
            }
            currentSHA = liveSHA
        } else {
            let (image, planned) = try await readAndPlan(session, dtb: dtb, sizing: sizing, profile: profile)
            plan = planned
            currentSHA = sha256Hex(image)
        }
        return PreparedMemoryFix(
            before: before, board: profile, dtb: dtb, sizing: sizing, edit: plan.edit,
            currentImageSHA256: currentSHA, newImageSHA256: plan.newImageSHA256, space: space)
    }

    /// Reads the board's boot image, checks it, and plans the edit on it.
    private func readAndPlan(_ session: SSHSession, dtb: String, sizing: LayoutSizing, profile: BoardProfile) async throws -> ([UInt8], BootImagePlans.Plan) {
        events?(.step("reading \(files.image)"))
        let path = files.image
        let events = self.events
        let image = try await session.withConnection { connection in
            try connection.readFile(path) { done, total in events?(.transfer(what: "reading emmcboot.itb", done: done, total: total)) }
        }
        if case .damaged(let reason) = try BootImageHealth.check(InMemoryBytes(image)) {
            throw MemoryFixError.bootImageDamaged(path: files.image, reason: reason)
        }
        events?(.step("planning"))
        let edit = try BootImageEdit(image: image, dtb: dtb, sizing: sizing, minimumLinuxMiB: profile.minimumLinuxMiB)
        return (image, BootImagePlans.Plan(edit: edit))
    }

    /// The sha256 of the board's live boot image, hashed on the board (one round trip, nothing read here); nil
    /// when the board cannot say (no sha256sum): the board then plans on its own image.
    private func liveImageSHA256(_ session: SSHSession) async throws -> String? {
        let output = try await session.run(shellCommand(["sha256sum", files.image]), timeout: 120)
        let hash = String(output.stdoutText.prefix(64))
        guard output.exitStatus == 0, hash.count == 64, hash.allSatisfy(\.isHexDigit) else { return nil }
        return hash.lowercased()
    }

    /// Writes the prepared image and (unless `reboot` is false) reboots and verifies. Returns the result and
    /// the session to use afterwards (a new one when the board rebooted).
    public func apply(_ prepared: PreparedMemoryFix, session: SSHSession, reboot: Bool) async throws -> (MemoryFixResult, SSHSession) {
        try await lockBootImage(session, command: "fix-memory").around {
            try await applyHoldingTheLock(prepared, session: session, reboot: reboot)
        }
    }

    private func applyHoldingTheLock(_ prepared: PreparedMemoryFix, session: SSHSession, reboot: Bool) async throws -> (MemoryFixResult, SSHSession) {
        let planned = heapSizes(of: prepared.edit.plan.after)
        var result = MemoryFixResult(
            status: .applied, target: session.target.displayName, board: prepared.board.name, dtb: prepared.dtb,
            plan: prepared.edit.plan)

        guard let newImage = prepared.edit.editedImage, let newSHA = prepared.newImageSHA256 else {
            if prepared.liveHeaps == planned {
                result.status = .alreadyApplied
                result.liveHeapsAfter = prepared.liveHeaps
                return (result, session)
            }
            // Live heaps unknown: cannot tell whether a reboot would change anything; never reboot blindly.
            guard reboot, prepared.liveHeaps != nil else {
                result.status = .rebootPending
                return (result, session)
            }
            let shell = try await RootShell.open(session, passwordProvider: passwordProvider)
            let (live, fresh) = try await rebootAndVerify(shell, expected: planned, backups: (files.bootBackup, files.backupDirectory))
            result.liveHeapsAfter = live
            return (result, fresh)
        }

        let space = prepared.space
        let bootNeeded = space.bootBytesNeeded(newImageBytes: UInt64(newImage.count))
        guard space.bootBytesAvailable >= bootNeeded else {
            throw MemoryFixError.bootTooFull(freeBytes: space.bootBytesAvailable, neededBytes: bootNeeded)
        }

        let shell = try await RootShell.open(session, passwordProvider: passwordProvider)
        // Old backups go first (one fewer than kept, as this run adds one): /data stays bounded, and a pile left
        // by an older version no longer blocks this run. An image already backed up is not copied again.
        let kept = try await pruneBackups(shell, keepingNewest: BackupRetention.newestKept - 1)
        let reusable = kept.last { $0.sha256 == prepared.currentImageSHA256 && $0.condition == .ok }?.path
        if reusable == nil, space.dataFreeBytes < space.dataBytesNeeded {
            let now = try BootSpace(text: try await session.run(files.spaceScript, timeout: 60).stdoutText)
            guard now.dataFreeBytes >= now.dataBytesNeeded else {
                throw MemoryFixError.dataTooFull(freeBytes: now.dataFreeBytes, neededBytes: now.dataBytesNeeded)
            }
        }
        let staging = shell.isRoot ? files.stagedImage : "/tmp/.tpudeploy-emmcboot-\(UUID().uuidString.prefix(8)).itb"
        if shell.isRoot { _ = try await shell.run("rm -f \(shellQuoted(staging))") }
        events?(.step("uploading the new boot image"))
        let events = self.events
        do {
            try await session.withConnection { connection in
                try connection.writeFile(staging, newImage) { done, total in
                    events?(.transfer(what: "uploading emmcboot.itb", done: done, total: total))
                }
            }
        } catch let error as SSHError {
            // Best effort: a partial upload must not linger (a new connection, as this one may be gone).
            if let cleanup = try? await SSHSession.connect(to: session.target, passwordProvider: passwordProvider) {
                _ = try? await cleanup.run("rm -f \(shellQuoted(staging))", timeout: 30)
                await cleanup.close()
            }
            // A lost link is worth a retry as it is; an answer from the board (no space, no permission) is not.
            switch error {
            case .sftpFailed(_, _, let reason): throw MemoryFixError.uploadRefused(path: staging, reason: reason)
            case .channelFailed(_, let operation, let reason): throw MemoryFixError.uploadRefused(path: staging, reason: "\(operation): \(reason)")
            default: break
            }
            throw MemoryFixError.uploadInterrupted(reason: "\(error)")
        }

        events?(.step("installing it with checked backups"))
        let stamp = Self.stamp()
        let install: CommandResult
        events?(.replacingBootImage)
        do {
            // Generous: syncing a busy eMMC (right after a multi-GB model copy) can take minutes.
            install = try await shell.run(files.installScript(
                source: staging, newSHA: newSHA, expectedCurrentSHA: prepared.currentImageSHA256, stamp: stamp, keepSource: false,
                reusing: reusable),
                timeout: 900)
        } catch let error as SSHError {
            throw MemoryFixError.installStateUnknown(reason: "\(error)")
        }
        let backups = try Self.installOutcome(install)
        events?(.bootImageReplaced(bootBackup: backups.boot, dataBackup: backups.data))
        result.bootBackup = backups.boot
        result.dataBackup = backups.data
        guard reboot else {
            result.status = .rebootPending
            return (result, session)
        }
        let (live, fresh) = try await rebootAndVerify(shell, expected: planned, backups: backups)
        result.liveHeapsAfter = live
        return (result, fresh)
    }

    /// Held until the run ends or the board reboots (which frees it): a second run's install or reboot
    /// would race this one's. A board without flock goes on unlocked, as the step log says.
    func lockBootImage(_ session: SSHSession, command: String) async throws -> HeldBoardLock {
        let held = try await session.take(.bootImage(command: command), protecting: "the boot image")
        if case .unavailable(let reason) = held.outcome {
            events?(.step("going on without a board lock: \(reason)"))
        }
        return held
    }

    func rebootAndVerify(_ shell: RootShell, expected: [String: UInt64], backups: (boot: String, data: String)) async throws -> ([String: UInt64], SSHSession) {
        events?(.step("rebooting \(shell.session.target.displayName)"))
        // Ask for a password at most once: reuse the one the session logged in with, or the first answer.
        let known = await shell.session.loginPassword
        let original = passwordProvider
        let remembered = RememberedPassword(known)
        let provider: PasswordProvider = { prompt in
            if let password = remembered.value { return password }
            let answer = try original?(prompt)
            remembered.value = answer
            return answer
        }
        var watcher = RebootWatcher(target: shell.session.target, passwordProvider: provider, upTimeout: rebootTimeout, events: events)
        watcher.downTimeout = 60
        let fresh: SSHSession
        do {
            fresh = try await watcher.reboot(with: shell)
        } catch RebootError.didNotComeBack(let target, let seconds) {
            throw MemoryFixError.boardDidNotReturn(target: target, seconds: seconds, bootBackup: backups.boot, dataBackup: backups.data)
        } catch let error as RebootError {
            throw MemoryFixError.rebootFailed(reason: "\(error)", bootBackup: backups.boot, dataBackup: backups.data)
        } catch let error as SSHError {
            throw MemoryFixError.rebootFailed(reason: "\(error)", bootBackup: backups.boot, dataBackup: backups.data)
        }
        events?(.step("verifying the live heaps"))
        var verifier = BoardInspector(profiles: profiles, passwordProvider: provider)
        verifier.checksBootImage = false   // it just booted: U-Boot accepted it
        let after = try await verifier.inspect(fresh)
        guard after.liveHeapsKnown else { throw MemoryFixError.liveHeapsUnknown(target: fresh.target.displayName) }
        var live: [String: UInt64] = [:]
        for heap in after.heaps { if let bytes = heap.liveBytes { live[heap.name] = bytes } }
        guard live == expected else {
            throw MemoryFixError.verificationFailed(expected: MemoryLayoutText.heaps(expected), live: MemoryLayoutText.heaps(live))
        }
        return (live, fresh)
    }

    static func installOutcome(_ result: CommandResult) throws -> (boot: String, data: String) {
        let text = result.stdoutText + result.stderrText
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("@@ok ") }) {
            let fields = line.split(separator: " ")
            if fields.count == 3 { return (String(fields[1]), String(fields[2])) }
        }
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("@@error:") }) {
            throw MemoryFixError.installFailed(reason: String(line.dropFirst("@@error:".count)))
        }
        throw MemoryFixError.installFailed(reason: text.isEmpty ? "the install script printed nothing (exit \(result.exitStatus.map(String.init) ?? "none"))" : text)
    }

    /// What the install script went on without (`@@note:` lines): a rollback's backup under /data on a full /data.
    static func installNotes(_ result: CommandResult) -> [String] {
        result.stdoutText.split(separator: "\n").filter { $0.hasPrefix("@@note:") }.map { String($0.dropFirst("@@note:".count)) }
    }

    /// A UTC time stamp for backup names, sortable.
    static func stamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: Date())
    }
}

/// A password answered once and reused for the later connections of one run.
final class RememberedPassword: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    init(_ value: String?) { stored = value }
    var value: String? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
