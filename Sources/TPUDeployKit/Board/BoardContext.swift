import Foundation

/// Everything a step needs to work on one board, built once per board by a single-board command or a fleet
/// rollout: the open SSH session (reused by every step; replaced after a reboot), the board profile, the
/// deployment, the payload folder, the credentials resolved before any work starts, and where events go.
public struct BoardContext: Sendable {
    /// The board's name in events and reports: its inventory name, or `user@host`.
    public var name: String
    /// The board's one SSH session; `replacingSession` after a reboot.
    public var session: SSHSession
    /// The board profile (`Profiles/boards`) named for it, if any; nil means the one whose dtb it boots.
    public var boardProfile: String?
    public var deployment: DeploymentReference
    /// The service files and engine builds; needed by launch (status, stop and logs do without).
    public var payloads: PayloadDirectory?
    /// Asked for a login or sudo password no key or earlier answer gave; a fleet passes one that never prompts.
    public var passwordProvider: PasswordProvider?
    /// The engine's API key: launch installs it, verify and status send it.
    public var apiKey: EngineAPIKey?
    public var events: BoardEvents?

    public init(name: String? = nil, session: SSHSession, boardProfile: String? = nil, deployment: DeploymentReference,
                payloads: PayloadDirectory? = nil, passwordProvider: PasswordProvider? = nil, apiKey: EngineAPIKey? = nil,
                events: BoardEvents? = nil) {
        self.name = name ?? session.target.displayName
        self.session = session
        self.boardProfile = boardProfile
        self.deployment = deployment
        self.payloads = payloads
        self.passwordProvider = passwordProvider
        self.apiKey = apiKey
        self.events = events
    }

    public var target: SSHTarget { session.target }

    /// The same board on a new session (after fix-memory's reboot, the old one is gone).
    public func replacingSession(_ session: SSHSession) -> BoardContext {
        var copy = self
        copy.session = session
        return copy
    }

    /// Reports `detail` in `phase` as this board's event.
    public func report(_ phase: FleetPhase, _ detail: BoardEvent.Detail) {
        events?(BoardEvent(board: name, phase: phase, detail: detail))
    }

    /// A push's events as this board's (`DeploymentPusher(events:)`), in the `push` phase.
    public var pushEvents: PushEvents {
        let context = self
        return { context.report(.push, .push($0)) }
    }

    /// fix-memory's events as this board's (`BoardMemoryFixer(events:)`), in `phase` (`fixMemory`, or `reboot`
    /// while the board restarts).
    public func memoryFixEvents(in phase: FleetPhase = .fixMemory) -> MemoryFixEvents {
        let context = self
        return { context.report(phase, .memoryFix($0)) }
    }

    /// The deployment on this board: its service spec, and its HTTP API through `session` (`withAPI(on:)`).
    public var engine: DeployedEngine {
        DeployedEngine(deployment: deployment, target: target, passwordProvider: passwordProvider)
    }

    /// The command that makes room for this deployment's model, for messages; nil without a model profile.
    public var fixMemoryCommand: String? {
        guard let model = deployment.profile?.name else { return nil }
        return "tpudeploy fix-memory\(boardProfile.map { " --board \($0)" } ?? "") --for-model \(model)"
    }

    /// The service manager of this board, as root (one short round trip to learn how to become root).
    public func serviceManager() async throws -> EngineServiceManager {
        let root = try await RootShell.open(session, passwordProvider: passwordProvider)
        // Status, stop and logs need no payload file: a placeholder keeps them working without a checkout.
        return EngineServiceManager(root: root, payloads: payloads ?? PayloadDirectory(directory: URL(fileURLWithPath: "Payloads")))
    }

    /// Connects to `target` and returns its context, reporting the `connect` phase; the caller closes
    /// `session` when the board's work is done.
    public static func connect(name: String? = nil, to target: SSHTarget, boardProfile: String? = nil,
                               deployment: DeploymentReference, payloads: PayloadDirectory? = nil,
                               passwordProvider: PasswordProvider? = nil, apiKey: EngineAPIKey? = nil,
                               events: BoardEvents? = nil) async throws -> BoardContext {
        let boardName = name ?? target.displayName
        events?(BoardEvent(board: boardName, phase: .connect, detail: .started))
        let session = try await SSHSession.connect(to: target, passwordProvider: passwordProvider)
        events?(BoardEvent(board: boardName, phase: .connect, detail: .finished))
        return BoardContext(name: boardName, session: session, boardProfile: boardProfile, deployment: deployment,
                            payloads: payloads, passwordProvider: passwordProvider, apiKey: apiKey, events: events)
    }
}
