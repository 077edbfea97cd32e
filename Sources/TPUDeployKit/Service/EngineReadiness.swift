import Foundation

/// Waits until the engine's `/health` says ready, reporting progress; a `failed` health ends the wait at once
/// with the engine's reason (and the fix-memory command when the NPU heap is what is missing).
public struct EngineReadiness: Sendable {
    public var api: EngineAPI
    public var timeoutSeconds: Double
    public var pollInterval: Double

    public init(api: EngineAPI, timeoutSeconds: Double = 300, pollInterval: Double = 0.5) {
        self.api = api
        self.timeoutSeconds = timeoutSeconds
        self.pollInterval = pollInterval
    }

    public enum Progress: Sendable, Equatable {
        /// Nothing answers on the engine's port yet (starting, or restarting after a crash).
        case waitingForPort(elapsed: Double)
        case loading(elapsed: Double)
    }

    /// Returns the ready health. `fixMemoryCommand` is offered when the failure is an NPU memory shortage;
    /// `logTail` is read only when the wait fails. `serviceRestarts`, when given, is asked while the engine
    /// does not answer: the service was (re)started just before the wait, so any restart means the engine
    /// exited before it served (a crash loop: a wrong binary, a missing library), which ends the wait at once
    /// with `ServiceError.crashLoop` instead of at the timeout.
    public func wait(fixMemoryCommand: String?, logTail: @Sendable () async -> String,
                     serviceRestarts: (@Sendable () async -> Int?)? = nil,
                     onProgress: @Sendable (Progress) -> Void) async throws -> EngineHealth {
        let started = Date()
        var lastState = "no answer"
        while true {
            let elapsed = Date().timeIntervalSince(started)
            let answer: Result<EngineHealth, Error>
            do { answer = .success(try await api.health()) } catch { answer = .failure(error) }
            switch answer {
            case .success(let health):
                switch health.status {
                case .ready: return health
                case .failed:
                    throw health.loadFailure(fixMemoryCommand: fixMemoryCommand)
                case .loading:
                    lastState = "loading"
                    onProgress(.loading(elapsed: elapsed))
                }
            case .failure(let error):
                if case HTTPError.status(let code, let message) = error, code == 401 {
                    throw ServiceError.notReady(reason: "the engine wants an API key: \(message)", logTail: "")
                }
                lastState = "no answer (\(error))"
                onProgress(.waitingForPort(elapsed: elapsed))
                if let serviceRestarts, let restarts = await serviceRestarts(), restarts > 0 {
                    throw ServiceError.crashLoop(restarts: restarts, seconds: Date().timeIntervalSince(started), logTail: await logTail())
                }
            }
            if elapsed >= timeoutSeconds {
                throw ServiceError.timedOut(seconds: Int(timeoutSeconds), lastState: lastState, logTail: await logTail())
            }
            try await Task.sleep(nanoseconds: UInt64(pollInterval * 1_000_000_000))
        }
    }
}

extension EngineHealth {
    /// A failed engine as an error: its reason, and `fixMemoryCommand` when the device ran out of memory.
    public func loadFailure(fixMemoryCommand: String?) -> ServiceError {
        .failedToLoad(reason: reason ?? "no reason given", fixMemoryCommand: isNPUMemoryShortage ? fixMemoryCommand : nil)
    }

    /// For a status line: what to do when the engine failed for want of device memory, else nil.
    public func fixMemoryAdvice(_ fixMemoryCommand: String?) -> String? {
        guard status == .failed, isNPUMemoryShortage, let fixMemoryCommand else { return nil }
        return "the device heaps (NPU, then VPP and VPU) are too small for the model: run `\(fixMemoryCommand)`, then `tpudeploy launch`"
    }
}
