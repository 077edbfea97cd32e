import Foundation

/// The rollout's phases on real (or simulated) boards, on the library's single-board steps: `BoardInspector`,
/// `BoardMemoryFixer` (`--for-model`, per board), the reboot watcher, `DeploymentPusher`, the engine service
/// and its readiness, and a short smoke conversation. One SSH session per board, reused across the phases and
/// replaced by the one the reboot watcher opens after the board is back.
public struct LiveRolloutSteps: RolloutSteps {
    public var deployment: RolloutDeployment
    public var profiles: ProfileStore
    /// Resolved once before the run (a fixed answer or none): nothing prompts while boards are in flight.
    public var passwordProvider: PasswordProvider?
    /// Service files for launch.
    public var payloads: PayloadDirectory
    public var deadlines: RolloutDeadlines
    /// The smoke question of the verify phase, and the tokens to generate at most.
    public var verifyPrompt = "Hello! Who are you?"
    public var verifyMaxTokens = 16
    /// The engine's API key: launch installs it (or removes an old key file when nil), verify sends it.
    public var apiKey: EngineAPIKey?
    /// The relay that spreads each batch's payload among its boards before they push (`RolloutRelay.swift`);
    /// nil: each board's push sends from this host (`--no-relay`).
    public var relay: RolloutRelay?
    /// Boot-image plans of this run: boards with the same image (by sha256), dtb, board profile and model share
    /// one plan and one rewritten image, computed once.
    public var bootImagePlans = BootImagePlans()

    public init(deployment: RolloutDeployment, profiles: ProfileStore, passwordProvider: PasswordProvider?, payloads: PayloadDirectory,
                deadlines: RolloutDeadlines) {
        self.deployment = deployment
        self.profiles = profiles
        self.passwordProvider = passwordProvider
        self.payloads = payloads
        self.deadlines = deadlines
    }

    public func open(_ board: FleetBoard, control: RolloutControl) async throws -> any RolloutBoardWork {
        if let named = board.deployment, named != deployment.reference.name {
            throw RolloutStepError(
                code: "deployment_unknown",
                message: "the inventory gives \(board.name) tpudeploy_deployment=\(named), but this rollout deploys \(deployment.reference.name) (tpudeploy.yaml's deployment): roll out one deployment at a time, with --limit")
        }
        var target = board.target
        target.connectTimeout = deadlines.connectSeconds
        target.stallTimeout = deadlines.transferStallSeconds
        let session = try await SSHSession.connect(to: target, passwordProvider: passwordProvider)
        return LiveRolloutBoard(board: board, session: session, steps: self, control: control)
    }
}

/// One board's session and what its phases learned, across phases.
final class LiveRolloutBoard: RolloutBoardWork, @unchecked Sendable {
    let board: FleetBoard
    let steps: LiveRolloutSteps
    let control: RolloutControl
    private let lock = NSLock()
    private var currentSession: SSHSession
    private var report: BoardReport?
    /// The heaps fix-memory wrote to /boot, which the reboot must bring live.
    private var plannedHeaps: [String: UInt64]?
    private var backups: (boot: String, data: String)

    init(board: FleetBoard, session: SSHSession, steps: LiveRolloutSteps, control: RolloutControl) {
        self.board = board
        self.steps = steps
        self.control = control
        currentSession = session
        let files = BootFileLayout()
        backups = (files.bootBackup, files.backupDirectory)
    }

    var session: SSHSession { lock.withLock { currentSession } }
    /// The board's architecture, once inspected.
    var arch: String? { lock.withLock { report?.arch } }
    var deployment: RolloutDeployment { steps.deployment }

    func inspect() async throws -> RolloutInspection {
        var inspector = BoardInspector(profiles: steps.profiles, passwordProvider: steps.passwordProvider)
        inspector.checksBootImage = false
        let report = try await inspector.inspect(session)
        lock.withLock { self.report = report }
        let profileName = board.boardProfile ?? report.board
        let profile = try profileName.map { try steps.profiles.board(named: $0) }
        var needs: [FleetPhase] = []
        var reasons: [String] = []
        var layout: String?

        // The layout: fix-memory only when the model cannot load on the live heaps.
        let model = deployment.needs
        if let heaps = report.liveHeaps {
            let live = HeapFit(need: model.memory, totalBytes: model.totalBytes, heaps: heaps)
            if live.verdict == .cannotLoad {
                if let profile, let capacity = report.layoutCapacity(minimumLinuxMiB: profile.minimumLinuxMiB),
                   let line = capacity.refusal(model: model.name, needBytes: model.totalBytes, largestAllocationBytes: model.memory?.largestAllocationBytes)
                {
                    throw RolloutStepError(code: "no_layout_fits", message: line)
                }
                if report.rebootPending == true, let configured = report.configuredHeaps,
                   HeapFit(need: model.memory, totalBytes: model.totalBytes, heaps: configured).verdict != .cannotLoad
                {
                    needs.append(.reboot)
                    reasons.append("/boot holds a layout \(model.name) loads on, which the board has not rebooted into")
                } else {
                    guard let profile else {
                        throw RolloutStepError(code: "no_board_profile", message: "no board profile boots \(report.dtb ?? "the board's dtb"): set tpudeploy_board for \(board.name) in the inventory")
                    }
                    let sizing = try deployment.layoutChoice.sizing(for: profile)
                    if case .model(_, let bytes, _, let policy) = sizing {
                        let sizes = policy.heaps(forModelNeeding: bytes)
                        layout = "npu \(sizes.npu), vpu \(sizes.vpu), vpp \(sizes.vpp)"
                    }
                    needs += [.fixMemory, .reboot]
                    reasons.append("\(model.name) cannot load: \(live.refusalReason)")
                }
            } else if let pending = PendingLayout(live: heaps, configured: report.configuredHeaps),
                      case let next = pending.fits(model).afterReboot, next.verdict == .cannotLoad
            {
                // It loads now, but /boot holds a layout it cannot load on: the board's next reboot would take the
                // deployment down. Refused as push refuses it, naming both layouts.
                throw PushError.fitsOnlyUntilReboot(model: model.name, reason: next.refusalReason, layouts: pending.layouts,
                                                    keepLiveAdvice: pending.keepLiveAdvice)
            }
        } else {
            reasons.append("the live heaps could not be read (root or sudo -n is needed): whether \(model.name) fits was not checked")
        }

        // The files, by the board's manifest (name, size, sha256) and the sizes on the board now.
        let payload = try await deployment.payload(forArch: report.arch ?? EngineSource.hostArch)
        let directory = deployment.reference.remoteDir
        let script = try BoardScript.named("rollout-state.sh")
        let output = try await session.run(script.commandLine([directory] + payload.entries.map(\.name)), timeout: 60)
        let state = RolloutBoardState(output.stdoutText)
        let missing = payload.entries.filter { !state.holds($0) }
        let bytesToSend = missing.reduce(UInt64(0)) { $0 + $1.size }
        if !missing.isEmpty {
            needs.append(.push)
            reasons.append("\(missing.count) of \(payload.entries.count) files to send (\(ByteCount.human(bytesToSend)))")
        }

        // The engine: started from this directory after the files last changed, and /health ready.
        if !needs.isEmpty {
            needs += [.launch, .verify]
        } else if !state.engineRunsOnTheseFiles {
            needs += [.launch, .verify]
            reasons.append(state.engines.isEmpty ? "no engine serves \(directory)" : "the engine was started before the files last changed")
        } else {
            let engine = DeployedEngine(deployment: deployment.reference, target: session.target, passwordProvider: steps.passwordProvider)
            let health = try? await engine.withAPI(on: session, apiKey: steps.apiKey?.value, timeout: 10) { try await $0.health() }
            if health?.status != .ready {
                needs += [.launch, .verify]
                reasons.append("the engine's /health says \(health?.status.rawValue ?? "nothing")")
            }
        }
        let reason = needs.isEmpty
            ? "at the target: \(model.name) fits the live heaps, \(payload.entries.count) files match by sha256, the engine serves them"
            : reasons.joined(separator: "; ")
        return RolloutInspection(needs: needs, reason: reason, layout: layout, bytesToSend: bytesToSend,
                                 boardProfile: profileName, ddrBytes: report.ddr?.totalBytes)
    }

    func perform(_ phase: FleetPhase, progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String? {
        switch phase {
        case .fixMemory: return try await fixMemory(progress)
        case .reboot: return try await reboot(progress)
        case .push: return try await push(progress)
        case .launch: return try await launch(progress)
        case .verify: return try await verify(progress)
        case .connect, .inspect, .distribute, .done: return nil
        }
    }

    func close() async { await session.close() }

    private func fixer(_ phase: FleetPhase, _ progress: @escaping @Sendable (RolloutProgress) -> Void) -> BoardMemoryFixer {
        var fixer = BoardMemoryFixer(profiles: steps.profiles, passwordProvider: steps.passwordProvider,
                                     events: context(phase, progress).memoryFixEvents(in: phase))
        fixer.rebootTimeout = steps.deadlines.rebootSeconds
        fixer.sharedPlans = steps.bootImagePlans
        return fixer
    }

    /// Plans the layout for the model on this board (its own DDR and dtb) and writes it to /boot with checked
    /// backups; the reboot is the next phase. Once the new image is being installed it is never cut short.
    private func fixMemory(_ progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String {
        let fixer = fixer(.fixMemory, progress)
        let prepared = try await fixer.prepare(session, board: board.boardProfile, choice: deployment.layoutChoice)
        let planned = heapSizes(of: prepared.edit.plan.after)
        // This board's DDR and dtb bound the layout: when even the planned heaps cannot hold the model, writing
        // them and rebooting would only lose the board's layout for nothing.
        let model = deployment.needs
        let fit = HeapFit(need: model.memory, totalBytes: model.totalBytes,
                          heaps: DeviceHeaps(npu: planned["npu"], vpp: planned["vpp"], vpu: planned["vpu"]))
        if fit.verdict == .cannotLoad {
            throw RolloutStepError(
                code: "no_layout_fits",
                message: "the layout fix-memory can give \(board.name) (\(prepared.board.name), \(MemoryLayoutText.heaps(planned))) cannot hold \(model.name): \(fit.refusalReason); nothing was changed")
        }
        let (result, _) = try await fixer.apply(prepared, session: session, reboot: false)
        lock.withLock {
            plannedHeaps = planned
            if let boot = result.bootBackup, let data = result.dataBackup { backups = (boot, data) }
        }
        let written = result.bootBackup != nil ? "written to /boot" : "already in /boot"
        return "\(MemoryLayoutText.heaps(planned)) \(written) (\(prepared.board.name), \(prepared.dtb))"
    }

    /// Reboots and waits for a new boot id, then checks the live heaps are the ones /boot holds.
    private func reboot(_ progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String {
        let expected = lock.withLock { plannedHeaps } ?? configuredHeaps()
        let shell = try await RootShell.open(session, passwordProvider: steps.passwordProvider)
        let (live, fresh) = try await fixer(.reboot, progress).rebootAndVerify(shell, expected: expected, backups: lock.withLock { backups })
        lock.withLock { currentSession = fresh }
        return "back with live heaps \(MemoryLayoutText.heaps(live))"
    }

    private func configuredHeaps() -> [String: UInt64] {
        var sizes: [String: UInt64] = [:]
        for heap in lock.withLock({ report })?.heaps ?? [] { if let bytes = heap.configuredBytes { sizes[heap.name] = bytes } }
        return sizes
    }

    /// What the board lacks of the payload, checked and resumable; the second Ctrl-C stops the transfer (the
    /// board keeps what it acknowledged).
    private func push(_ progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String {
        var pusher = DeploymentPusher(profiles: steps.profiles, passwordProvider: steps.passwordProvider, events: context(.push, progress).pushEvents)
        let control = self.control
        pusher.cancelled = { control.cancelsTransfers }
        pusher.hashCache = LocalHashCache.forCurrentUser
        let request = PushRequest(bmodel: deployment.bmodel, tokenizer: deployment.tokenizer, engine: deployment.engine,
                                  remoteDir: deployment.reference.remoteDir, profile: deployment.reference.profile)
        let result = try await pusher.push(request, session: session)
        progress(RolloutProgress(hostBytesSent: result.bytesSent))
        let sent = result.files.filter { $0.action != .skipped }.count
        return "sent \(sent) of \(result.files.count) files (\(ByteCount.human(result.bytesSent)))"
    }

    /// The board as the library's single-board steps see it, with their events turned into `progress`.
    private func context(_ phase: FleetPhase, _ progress: @escaping @Sendable (RolloutProgress) -> Void) -> BoardContext {
        let throttle = ProgressThrottle()
        return BoardContext(name: board.name, session: session, boardProfile: board.boardProfile, deployment: deployment.reference,
                            payloads: steps.payloads, passwordProvider: steps.passwordProvider, apiKey: steps.apiKey, events: { event in
            switch event.detail {
            case .serviceStarted(let manager): progress(RolloutProgress(detail: "the engine runs under \(manager)"))
            case .engineWaiting(.waitingForPort(let elapsed)): progress(RolloutProgress(detail: "starting (\(Int(elapsed)) s)"))
            case .engineWaiting(.loading(let elapsed)): progress(RolloutProgress(detail: "loading the model (\(Int(elapsed)) s)"))
            case .push(.progress(_, _, _, let done, let total)) where throttle.due(done == total):
                progress(RolloutProgress(bytesDone: done, bytesTotal: total))
            case .memoryFix(.waiting(let what, let seconds, let limit)): progress(RolloutProgress(detail: "\(what) (\(seconds)/\(limit) s)"))
            default: break
            }
        })
    }

    /// The library's launch step: the engine's service installed and started, /health ready within the
    /// engine-health deadline; a launch that fails stops the service so it does not restart forever.
    private func launch(_ progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String {
        let result = try await EngineLauncher(timeoutSeconds: Double(steps.deadlines.engineHealthSeconds)).launch(context(.launch, progress))
        return "serving under \(result.manager)" + (result.health.loadSeconds.map { String(format: ", model loaded in %.1f s", $0) } ?? "")
    }

    /// The library's verify step: one short conversation; the answer must be text the tokenizer round-trips.
    private func verify(_ progress: @escaping @Sendable (RolloutProgress) -> Void) async throws -> String {
        let result = try await EngineVerifier(prompt: steps.verifyPrompt, maxTokens: steps.verifyMaxTokens).verify(context(.verify, progress))
        try result.requireOK()
        return "answered \(result.reply.completionTokens.map { "\($0) tokens" } ?? "")"
            + (result.reply.tokensPerSecond.map { String(format: ", %.1f tokens/s", $0) } ?? "")
    }
}

/// What `rollout-state.sh` printed: the manifest, the payload files' sizes, and the engines serving from the
/// deployment directory with how long they have run.
struct RolloutBoardState: Equatable {
    var now: Int?
    var manifestChanged: Int?
    var sizes: [String: UInt64] = [:]
    /// When each payload file last changed (seconds since the epoch, the board's clock).
    var modified: [String: Int] = [:]
    /// Seconds each engine process has run, by pid.
    var engines: [Int: Int] = [:]
    var manifest = BoardManifest()

    init(_ text: String) {
        let parts = text.components(separatedBy: "@@manifest\n")
        for line in parts[0].split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
            switch fields.first {
            case "@@now": now = fields.count > 1 ? Int(fields[1]) : nil
            case "@@manifest_mtime": manifestChanged = fields.count > 1 ? Int(fields[1]) : nil
            case "@@size":
                let sized = fields.count == 3 ? fields[2].split(separator: " ", maxSplits: 1).map(String.init) : []
                if sized.count == 2, let size = UInt64(fields[1]) {
                    sizes[sized[1]] = size
                    modified[sized[1]] = Int(sized[0])
                }
            case "@@engine": if fields.count == 3, let pid = Int(fields[1]), let seconds = Int(fields[2]) { engines[pid] = seconds }
            default: break
            }
        }
        if parts.count > 1 { manifest = BoardManifest(text: parts[1]) }
    }

    /// Whether the board holds `entry` as push left it: recorded in the manifest, that size, not changed since.
    func holds(_ entry: PayloadEntry) -> Bool {
        let changed = modified[entry.name].map { $0 > (manifestChanged ?? Int.max) } ?? false
        return manifest.holds(entry, sizeOnBoard: sizes[entry.name], changedSinceRecorded: changed)
    }

    /// Some engine started from the directory no earlier than its manifest last changed.
    var engineRunsOnTheseFiles: Bool {
        guard let now, let manifestChanged else { return false }
        return engines.values.contains { now - $0 >= manifestChanged }
    }
}

/// At most one progress report a second (and always the last), so a fast transfer does not flood the output.
final class ProgressThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private var last = ContinuousClock.now - .seconds(10)

    func due(_ final: Bool) -> Bool {
        lock.withLock {
            let now = ContinuousClock.now
            guard final || now - last >= .seconds(1) else { return false }
            last = now
            return true
        }
    }
}
