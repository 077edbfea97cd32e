/// The stop step: stops the deployment's engine and keeps it from starting at boot.
public struct EngineStopper: Sendable {
    public init() {}

    /// The service's status after stopping; fails when the board has no such deployment.
    public func stop(_ board: BoardContext) async throws -> ServiceStatus {
        try await board.serviceManager().stop(board.engine.bareSpec)
    }
}
