/// The deployment's service on a board and, when it runs, what the engine's `/health` says.
public struct EngineStatusReport: Sendable, Equatable {
    public var deployment: String
    public var service: ServiceStatus
    /// The engine's answer; nil when the service does not run or the engine did not answer (`healthError`).
    public var health: EngineHealth?
    public var healthError: String?

    /// Ready to serve: the service runs and `/health` says ready.
    public var isReady: Bool { health?.status == .ready }
}

/// The status step: asks the board's service manager about the deployment's service, then the engine itself.
/// A service that runs but whose engine does not answer is reported, not thrown: that is a status too.
public struct EngineStatusCheck: Sendable {
    /// Seconds the engine's `/health` is waited for.
    public var healthTimeout: Double

    public init(healthTimeout: Double = 10) {
        self.healthTimeout = healthTimeout
    }

    public func check(_ board: BoardContext) async throws -> EngineStatusReport {
        let engine = board.engine
        let service = try await board.serviceManager().status(engine.bareSpec)
        var report = EngineStatusReport(deployment: board.deployment.name, service: service)
        guard service.state == .running else { return report }
        do {
            report.health = try await engine.withAPI(on: board.session, apiKey: board.apiKey?.value, timeout: healthTimeout) { api in
                try await api.health()
            }
        } catch {
            report.healthError = "\(error)"
        }
        return report
    }
}
