import Foundation

/// What a launch left running: the service, its manager and what the engine's `/health` said once ready.
public struct LaunchResult: Sendable, Equatable {
    public var deployment: String
    /// `user@host` of the board.
    public var board: String
    /// `systemd` or `supervisor`.
    public var manager: String
    public var health: EngineHealth
    /// From the start of the launch to `/health` ready.
    public var readySeconds: Double
    public var apiKeyRequired: Bool
}

/// The launch step: installs the pushed deployment's engine as a service on the board, starts it and waits
/// until it serves. A launch that fails stops the service and takes it out of the boot sequence, and says so.
public struct EngineLauncher: Sendable {
    /// Seconds to wait for the model to load.
    public var timeoutSeconds: Double

    public init(timeoutSeconds: Double = 300) {
        self.timeoutSeconds = timeoutSeconds
    }

    /// Launches `board.deployment` on `board.session`, installing `board.apiKey` (or removing an old key file).
    /// Events: `launch` started, `serviceStarted`, `engineWaiting` while it loads, finished. `readySeconds`
    /// counts from `started` (a command passes its own start, so the connection is counted too).
    public func launch(_ board: BoardContext, started: Date = Date()) async throws -> LaunchResult {
        guard let payloads = board.payloads else { throw PayloadError.notGiven(step: "launch") }
        let root = try await RootShell.open(board.session, passwordProvider: board.passwordProvider)
        let manager = EngineServiceManager(root: root, payloads: payloads)
        let engine = board.engine
        let spec = try await engine.launchSpec(session: board.session, withAPIKey: board.apiKey != nil)
        try await manager.requirePortFree(spec)
        try await manager.installAPIKey(board.apiKey, for: spec)
        board.report(.launch, .started)
        let managerName = try await manager.install(spec)
        board.report(.launch, .serviceStarted(manager: managerName))
        let health: EngineHealth
        do {
            let timeout = timeoutSeconds, fixMemoryCommand = board.fixMemoryCommand
            health = try await engine.withAPI(on: board.session, apiKey: board.apiKey?.value) { api in
                try await EngineReadiness(api: api, timeoutSeconds: timeout).wait(
                    fixMemoryCommand: fixMemoryCommand,
                    logTail: { (try? await manager.logs(spec, lines: 15)) ?? "" },
                    serviceRestarts: { try? await manager.status(spec).restarts },
                    onProgress: { board.report(.launch, .engineWaiting($0)) })
            }
        } catch {
            throw await manager.abandon(spec, after: error)
        }
        board.report(.launch, .finished)
        return LaunchResult(deployment: board.deployment.name, board: board.target.displayName, manager: managerName, health: health,
                            readySeconds: Date().timeIntervalSince(started), apiKeyRequired: spec.requiresAPIKey)
    }
}
