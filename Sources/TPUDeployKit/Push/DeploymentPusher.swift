import Foundation

/// What to push and where.
public struct PushRequest: Sendable {
    public var bmodel: String?
    public var tokenizer: String?
    public var engine: EngineSource
    public var support: [String]
    public var remoteDir: String
    /// The model profile, when one is named: family (for the tokenizer check) and NPU need.
    public var profile: ModelProfile?
    public var dryRun: Bool
    /// Push even when the model loads on only one of the live layout and the one /boot holds for the next reboot.
    public var allowPendingReboot = false

    public init(bmodel: String?, tokenizer: String?, engine: EngineSource, support: [String] = [], remoteDir: String,
                profile: ModelProfile? = nil, dryRun: Bool = false) {
        self.bmodel = bmodel
        self.tokenizer = tokenizer
        self.engine = engine
        self.support = support
        self.remoteDir = remoteDir
        self.profile = profile
        self.dryRun = dryRun
    }
}

/// Pushes a deployment to a board: checks the local files and the board before a byte moves, skips what
/// the board's manifest says is there, uploads the rest to temporary names (resuming a verified prefix),
/// has the board hash each file before renaming it into place, and records it in the board's manifest.
public struct DeploymentPusher: Sendable {
    public var profiles: ProfileStore?
    public var passwordProvider: PasswordProvider?
    public var events: PushEvents?
    public var tuning = UploadTuning()
    /// A kept temporary file is resumed from its size rounded down to this (the tail may be torn).
    public var resumeGranule: UInt64 = 1 << 20
    public var cancelled: UploadCancellation?
    /// Digests of local files from earlier pushes (nil: hash every file every time).
    public var hashCache: LocalHashCache?

    public init(profiles: ProfileStore?, passwordProvider: PasswordProvider?, events: PushEvents?) {
        self.profiles = profiles
        self.passwordProvider = passwordProvider
        self.events = events
    }

    /// Sends what the board lacks of the payload, verified, under the directory's board lock (so a second
    /// push into the same directory is told who is pushing instead of writing the same files).
    public func push(_ request: PushRequest, session: SSHSession) async throws -> PushResult {
        var lock: HeldBoardLock?
        var created: [String] = []
        do {
            let result = try await push(request, session: session, lock: &lock, created: &created)
            await lock?.release()
            return result
        } catch {
            // A push refused after it made the deployment directory (damaged weights are found while they are
            // sent) takes away what it made, if nothing is in it: a kept partial file stays, for the next push.
            for directory in created {
                _ = try? await session.run("rmdir -- \(shellQuoted(directory)) 2>/dev/null", timeout: 30)
            }
            await lock?.release()
            throw error
        }
    }

    private func push(_ request: PushRequest, session: SSHSession, lock: inout HeldBoardLock?, created: inout [String]) async throws -> PushResult {
        let started = Date()
        let name = session.target.displayName
        let scripts = PushScripts(directory: try BoardNames.validatedDirectory(request.remoteDir, source: "the push's remote directory"))
        var warnings: [String] = []

        // Local checks first: a wrong file is reported before the board is even asked.
        events?(.step("checking the model files"))
        let local = try LocalModelFiles(bmodel: request.bmodel, tokenizer: request.tokenizer, profile: request.profile)
        let model = local.model, pairing = local.pairing
        warnings += local.warnings
        let coefficientPlan = model.map(CoefficientCheckPlan.init)
        if let plan = coefficientPlan, let path = request.bmodel, plan.uncheckedRanges > 0 {
            warnings.append("\(plan.uncheckedRanges) weight range\(plan.uncheckedRanges == 1 ? "" : "s") of \(path) carry no sha256 check_code: \(plan.uncheckedRanges == 1 ? "it was" : "they were") not checked")
        }

        events?(.step("inspecting \(name)"))
        var inspector = BoardInspector(profiles: profiles, passwordProvider: passwordProvider)
        inspector.checksBootImage = false   // a full read of the boot image; push does not change or boot it
        let report = try await inspector.inspect(session)
        var chip: String?
        if let board = report.board, let profile = try? profiles?.board(named: board) { chip = profile.chip }
        if chip == nil { chip = report.chip }
        let liveHeaps = report.liveHeaps
        let capacity = try report.board.flatMap { try profiles?.board(named: $0) }.flatMap { report.layoutCapacity(minimumLinuxMiB: $0.minimumLinuxMiB) }

        // The engine's file name is fixed; probe with the names we will use.
        let arch0 = report.arch ?? EngineSource.hostArch
        var sources: [PayloadManifest.Source] = []
        if let path = request.bmodel { sources.append(.init(path: path, role: .bmodel, coefficients: coefficientPlan)) }
        if let path = request.tokenizer {
            sources.append(.init(path: path, role: .tokenizer))
            // A byte-level BPE vocab.json needs its merges (and Hugging Face's tokenizer_config.json, when there is
            // one) beside it on the board: the engine reads them from the same folder.
            for companion in BytePairVocabulary.companionFiles(of: path) { sources.append(.init(path: companion, role: .support)) }
        }
        if let engine = try request.engine.path(forArch: arch0) {
            // An engine that cannot run there would crash-loop under the service: refuse it before the lock or a byte.
            let header: [UInt8]
            do { header = try LocalFile.readPrefix(engine, count: 64).bytes } catch {
                throw PushError.localFileUnreadable(path: engine, reason: "\(error)")
            }
            if let warning = try EngineArchitectureCheck.check(engineHeader: header, path: engine, boardArch: arch0) { warnings.append(warning) }
            sources.append(.init(path: engine, role: .engine, remoteName: "tpu-llm-engine"))
        }
        for path in request.support { sources.append(.init(path: path, role: .support)) }
        let names = try sources.map { try BoardNames.validatedFileName($0.remoteName ?? ($0.path as NSString).lastPathComponent, source: "the name of \($0.path)") }
        if !request.dryRun {
            // Before the probe: what it finds (manifest, kept partial files) decides what this push writes.
            lock = try await session.take(.deploymentDirectory(request.remoteDir, command: "push"), protecting: request.remoteDir)
            if case .unavailable(let reason) = lock?.outcome {
                warnings.append("pushed without a board lock (\(reason)): another push into \(request.remoteDir) at the same time would not be stopped")
            }
        }
        let probeOutput = try await session.run(try scripts.probe(names: names).commandLine, timeout: 60)
        let probe = try scripts.parseProbe(probeOutput.stdoutText + probeOutput.stderrText, target: name)
        try probe.requireSafeForRoot(target: name, directory: request.remoteDir)
        if probe.arch != arch0, case .builds = request.engine {
            throw PushError.remoteCommandFailed(target: name, what: "reading the architecture", output: "uname -m said \(arch0), then \(probe.arch)")
        }

        let needs = model.map { ModelNeeds(model: $0, path: request.bmodel ?? "", profile: request.profile) }
        let facts = BoardFacts(target: name, arch: probe.arch, chip: chip, boardProfile: report.board, liveHeaps: liveHeaps, capacity: capacity,
                               configuredHeaps: report.configuredHeaps, freeBytes: probe.space.availableBytes, remoteDir: request.remoteDir)
        // Whether the model can load needs no hash: a model that cannot is refused before gigabytes are read
        // (minutes for a 4 GiB bmodel). The space check needs to know what is sent, so it comes after hashing.
        _ = try PushPreflight.check(board: facts, model: needs, bytesNeeded: 0, allowPendingReboot: request.allowPendingReboot)

        events?(.step("hashing local files"))
        let events = self.events
        // A file the board has no record of at this size, and no kept prefix of, will be sent whole whatever its
        // hash: it is hashed while it is sent, so it is read once and the hash takes no time of its own.
        let granule = resumeGranule
        let hashLater: (String, UInt64) -> Bool = { name, size in
            let kept = probe.sizes[name].flatMap { $0.partial } ?? 0
            return !request.dryRun && probe.manifest.files[name]?.size != size && kept < granule
        }
        let manifest = try PayloadManifest.build(sources, cache: hashCache, hashLater: hashLater) { done, total in
            events?(.hashing(done: UInt64(done), total: UInt64(total)))
        }

        // Which files to send, and how much of each is kept on the board.
        var toSend: [PayloadEntry] = []
        var kept: [UInt64] = []
        for entry in manifest.entries {
            let sizes = probe.sizes[entry.name]
            if probe.holds(entry) { continue }
            if probe.changedSinceManifest.contains(entry.name) {
                warnings.append("\(scripts.finalPath(entry.name)) was changed on the board after a push checked it: it is sent again")
            }
            toSend.append(entry)
            kept.append(min(sizes?.partial ?? 0, entry.size))
        }
        warnings += try PushPreflight.check(
            board: facts, model: needs, bytesNeeded: PushPreflight.bytesNeeded(sizes: toSend.map(\.size), keptPrefixes: kept),
            allowPendingReboot: request.allowPendingReboot)

        var files: [PushResult.File] = manifest.entries.map { entry in
            PushResult.File(name: entry.name, role: entry.role, sizeBytes: entry.size, sha256: entry.sha256,
                            remotePath: scripts.finalPath(entry.name), action: .skipped, resumedFromBytes: 0, bytesSent: 0, resends: 0,
                            boardHash: nil)
        }
        func index(_ entry: PayloadEntry) -> Int { files.firstIndex { $0.name == entry.name }! }

        if request.dryRun {
            for entry in toSend { files[index(entry)].action = .wouldSend }
            return PushResult(status: .planned, target: name, remoteDir: request.remoteDir, arch: probe.arch, files: files,
                              bytesSent: 0, seconds: Date().timeIntervalSince(started), bytesPerSecond: 0, pairing: pairing, warnings: warnings)
        }

        // Only now, with every check passed, does the board get the directory.
        let made = try await session.run(try scripts.makeDirectory().commandLine, timeout: 60).stdoutText
        if let error = made.split(separator: "\n").first(where: { $0.hasPrefix("@@error ") }) {
            throw PushError.remoteDirectoryUnusable(target: name, directory: request.remoteDir, reason: String(error.dropFirst(8)))
        }
        // The directories it made, the deployment directory first and then up: what to take away on a refusal.
        let levels = made.split(separator: "\n").first { $0.hasPrefix("@@created ") }.flatMap { Int($0.dropFirst(10)) } ?? 0
        var directory = scripts.directory
        for _ in 0..<max(0, levels) {
            created.append(directory)
            directory = (directory as NSString).deletingLastPathComponent
        }

        // Resume points: a kept prefix is used only when the board's hash of it equals ours.
        var offsets: [UInt64] = []
        for (entry, keptBytes) in zip(toSend, kept) {
            var offset = keptBytes / resumeGranule * resumeGranule
            if offset > 0 {
                events?(.step("checking the \(ByteCount.human(offset)) of \(entry.name) already on the board"))
                let remote = try await session.run(scripts.prefixHash(name: entry.name, bytes: offset), timeout: 3600)
                    .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                if remote != (try LocalFileHash.sha256(entry.localPath, prefix: offset)) { offset = 0 }
            }
            offsets.append(offset)
        }

        var boardManifest = probe.manifest
        let totalBytes = zip(toSend, offsets).reduce(UInt64(0)) { $0 + $1.0.size - $1.1 }
        var totalDone: UInt64 = 0
        for entry in manifest.entries where !toSend.contains(entry) {
            events?(.fileStarted(name: entry.name, size: entry.size, resumeFrom: entry.size, skipped: true))
        }
        for (pending, resumeFrom) in zip(toSend, offsets) {
            var entry = pending
            let slot = index(entry)
            files[slot].resumedFromBytes = resumeFrom
            files[slot].action = resumeFrom > 0 ? .resumed : .uploaded
            var offset = resumeFrom
            while true {
                events?(.fileStarted(name: entry.name, size: entry.size, resumeFrom: offset, skipped: false))
                let base = totalDone, start = offset
                let localHash = entry.hashPending ? SendingHash() : nil
                // A bmodel sent whole for the first time has its weights checked from the same chunks.
                let coefficients = entry.hashPending && entry.role == .bmodel ? coefficientPlan.flatMap { $0.ranges.isEmpty ? nil : $0 } : nil
                let verifier = coefficients.map(CoefficientVerifier.init)
                let identity = try LocalHashCache.FileIdentity(path: entry.localPath)
                let current = entry
                let outcome = try await upload(entry, from: offset, scripts: scripts, session: session, hash: localHash,
                                               coefficients: verifier) { done in
                    events?(.progress(name: current.name, fileDone: done, fileSize: current.size, totalDone: base + done - start, totalBytes: totalBytes))
                }
                files[slot].bytesSent += outcome.bytesSent
                totalDone += outcome.bytesSent
                if let localHash {
                    // The hash describes the bytes sent; the file must still be those bytes for the push to mean anything.
                    guard localHash.bytes == entry.size, (try? LocalHashCache.FileIdentity(path: entry.localPath)) == identity else {
                        _ = try? await session.run(scripts.removePartial(entry.name), timeout: 60)
                        throw PushError.localFileChanged(path: entry.localPath)
                    }
                    if let verifier {
                        let mismatches = verifier.finish()
                        if !mismatches.isEmpty {
                            _ = try? await session.run(scripts.removePartial(entry.name), timeout: 60)
                            try PayloadManifest.requireIntact(mismatches, path: entry.localPath)
                        }
                    }
                    entry.sha256 = localHash.finish()
                    files[slot].sha256 = entry.sha256
                    hashCache?.remember(entry.sha256, of: entry.localPath, identity: identity, coefficientsChecked: verifier != nil)
                }
                events?(.verifying(name: entry.name, partialPath: scripts.partialPath(entry.name)))
                // Trusted only while this push holds the directory's lock: a second writer into the same partial
                // file before it was complete would be inside the identity the follower recorded.
                let received = lock?.outcome == .locked
                    ? outcome.companionResult.flatMap { PushScripts.HashWhileReceiving(output: $0.stdoutText) } : nil
                let verdict = try await session.run(
                    scripts.verifyAndInstall(name: entry.name, sha256: entry.sha256, mode: entry.mode, received: received), timeout: 3600)
                let text = verdict.stdoutText
                if let ok = text.split(separator: "\n").first(where: { $0.hasPrefix("@@ok") }) {
                    files[slot].boardHash = PushScripts.BoardHashMethod(rawValue: String(ok.dropFirst(5)))
                    break
                }
                if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("@@error ") }) {
                    throw PushError.remoteCommandFailed(target: name, what: "installing \(entry.name)",
                                                        output: String(line.dropFirst(8)) + ": " + verdict.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
                }
                guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("@@mismatch") }) else {
                    throw PushError.remoteCommandFailed(target: name, what: "checking \(scripts.partialPath(entry.name))", output: text + verdict.stderrText)
                }
                let actual = String(line.dropFirst("@@mismatch ".count))
                guard files[slot].resends == 0 else {
                    _ = try? await session.run(scripts.removePartial(entry.name), timeout: 60)
                    throw PushError.hashMismatch(target: name, path: scripts.partialPath(entry.name), expected: entry.sha256, actual: actual)
                }
                files[slot].resends += 1
                events?(.resending(name: entry.name, reason: "the board's sha256 \(actual.prefix(12))… is not \(entry.sha256.prefix(12))…"))
                offset = 0
            }
            boardManifest.record(entry)
            let written = try await session.run(scripts.writeManifest, input: Array((boardManifest.jsonLine + "\n").utf8), timeout: 60)
            guard written.stdoutText.contains("@@ok") else {
                throw PushError.remoteCommandFailed(target: name, what: "writing \(scripts.manifestPath)", output: written.stderrText)
            }
            events?(.fileDone(name: entry.name))
        }

        let seconds = Date().timeIntervalSince(started)
        return PushResult(
            status: toSend.isEmpty ? .upToDate : .pushed, target: name, remoteDir: request.remoteDir, arch: probe.arch, files: files,
            bytesSent: totalDone, seconds: seconds, bytesPerSecond: seconds > 0 ? UInt64(Double(totalDone) / seconds) : 0,
            pairing: pairing, warnings: warnings)
    }

    /// Sends `entry` from `offset` to its temporary name. A write failure the SFTP server does not explain is
    /// checked against `df`: a full file system becomes `UploadError.noSpace`.
    /// The board hashes the file as it arrives (`PushScripts.hashWhileReceiving`, in the outcome's companion
    /// result); `hash`, when given, gets every byte sent (the upload starts at 0 then), and so does `coefficients`.
    private func upload(_ entry: PayloadEntry, from offset: UInt64, scripts: PushScripts, session: SSHSession, hash: SendingHash?,
                        coefficients: CoefficientVerifier? = nil,
                        progress: @escaping @Sendable (UInt64) -> Void) async throws -> UploadOutcome {
        let tuning = self.tuning, cancelled = self.cancelled
        let remote = scripts.partialPath(entry.name)
        var observer: (@Sendable (UnsafeRawBufferPointer) -> Void)?
        if let hash {
            observer = { chunk in
                hash.add(chunk)
                coefficients?.add(chunk)
            }
        }
        let companions = UploadCompanions(chunkObserver: observer,
                                          command: scripts.hashWhileReceiving(name: entry.name, size: entry.size))
        do {
            return try await session.withConnection { connection in
                try connection.uploadFile(entry.localPath, to: remote, from: offset, mode: mode_t(0o600), tuning: tuning,
                                          progress: { done, _ in progress(UInt64(done)) }, cancelled: cancelled, companions: companions)
            }
        } catch UploadError.failed(let target, let path, let reason) {
            if let df = try? await session.run(scripts.freeSpace, timeout: 60),
               let space = try? FilesystemSpace(dfPortable: df.stdoutText, path: scripts.directory),
               space.availableBytes < (64 << 10) {
                let acknowledged = (try? await session.run("stat -c %s \(shellQuoted(remote))", timeout: 30))
                    .flatMap { UInt64($0.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? offset
                throw UploadError.noSpace(target: target, path: path, freeBytes: space.availableBytes, neededBytes: entry.size - min(entry.size, acknowledged))
            }
            throw UploadError.failed(target: target, path: path, reason: reason)
        }
    }
}
