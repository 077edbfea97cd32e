import Foundation

/// The engine service's state on a board, as `ServiceScripts.status` reports it.
public struct ServiceStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable { case running, stopped, failed, notInstalled = "not-installed" }
    public var manager: String?
    public var state: State
    public var pid: Int?
    public var restarts: Int?

    /// Reads the `@@` lines of a service script's output.
    public static func parse(_ output: String) throws -> ServiceStatus {
        var status = ServiceStatus(manager: nil, state: .notInstalled, pid: nil, restarts: nil)
        var sawState = false
        for line in output.split(separator: "\n").map(String.init) {
            if line.hasPrefix("@@error:") { throw ServiceError.scriptFailed(String(line.dropFirst(8))) }
            let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard fields.count == 2 else { continue }
            switch fields[0] {
            case "@@manager": status.manager = fields[1]
            case "@@state":
                guard let state = State(rawValue: fields[1]) else { throw ServiceError.malformedStatus(line) }
                status.state = state
                sawState = true
            case "@@pid": status.pid = Int(fields[1]).flatMap { $0 > 0 ? $0 : nil }
            case "@@restarts": status.restarts = Int(fields[1])
            default: continue
            }
        }
        guard sawState || status.manager != nil else { throw ServiceError.malformedStatus(output.prefix(200).description) }
        return status
    }
}

public enum ServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    case scriptFailed(String)
    case malformedStatus(String)
    case notReady(reason: String, logTail: String)
    case failedToLoad(reason: String, fixMemoryCommand: String?)
    case timedOut(seconds: Int, lastState: String, logTail: String)
    case crashLoop(restarts: Int, seconds: Double, logTail: String)
    /// A launch that failed (`reason`, whose code was `causeCode`), after which the service was stopped and taken
    /// out of the boot sequence.
    case launchAbandoned(reason: String, service: String, stopped: Bool, causeCode: String?)
    /// The engine answered, but not with text the tokenizer round-trips (`ReplyTextCheck`).
    case answerRejected(problem: String)
    /// Neither tpudeploy.yaml nor a flag names the deployment to act on.
    case noDeploymentNamed(configPath: String)
    /// The board's deployment directory holds no `what` (engine, bmodel, tokenizer): nothing was pushed there.
    case notPushed(what: String, directory: String)

    public var description: String {
        switch self {
        case .scriptFailed(let reason): return reason
        case .malformedStatus(let text): return "unexpected answer from the board's service script: \(text)"
        case .notReady(let reason, let logTail):
            return "the engine is not serving: \(reason)" + (logTail.isEmpty ? "" : "; last log lines:\n\(logTail)")
        case .failedToLoad(let reason, let command):
            if let command {
                return "the engine could not load the model: \(reason). The device heaps are too small for it (the runtime allocates from the NPU heap, then VPP and VPU): run `\(command)`, then launch again"
            }
            return "the engine could not load the model: \(reason)"
        case .crashLoop(let restarts, let seconds, let logTail):
            return String(format: "the engine exited before it answered (%d restart%@ in %.1f s): it cannot start on this board", restarts, restarts == 1 ? "" : "s", seconds)
                + (logTail.isEmpty ? "" : "; its last log lines:\n\(logTail)")
        case .launchAbandoned(let reason, let service, let stopped, _):
            return reason + (stopped
                ? "\nThe service \(service) was stopped and will not start at boot; fix the cause (`tpudeploy logs` has the engine's output), then run `tpudeploy launch` again."
                : "\nStopping the service \(service) failed too: run `tpudeploy stop` so it does not restart at boot.")
        case .answerRejected(let problem):
            return "the engine's answer is not acceptable: \(problem)"
        case .noDeploymentNamed(let configPath):
            return "no deployment named: add a `deployment:` section to \(configPath) (tpudeploy init --model … writes one) or pass --name"
        case .notPushed(let what, let directory):
            return "no \(what) was pushed to \(directory) on the board: run `tpudeploy push` first"
        case .timedOut(let seconds, let lastState, let logTail):
            return "the engine was not ready after \(seconds) s (last state: \(lastState)); see `tpudeploy logs`"
                + (logTail.isEmpty ? "" : "; last log lines:\n\(logTail)")
        }
    }
}

/// Installs, stops and reports the engine service of one deployment on one board (one SSH session).
public struct EngineServiceManager: Sendable {
    public let root: RootShell
    public let payloads: PayloadDirectory

    public init(root: RootShell, payloads: PayloadDirectory) {
        self.root = root
        self.payloads = payloads
    }

    /// Installs or re-installs the service with `spec` and starts it; returns the service manager used.
    public func install(_ spec: EngineLaunchSpec) async throws -> String {
        let supervisor: String, unit: String
        do {
            supervisor = try String(contentsOf: payloads.supervisorScript, encoding: .utf8)
            unit = try String(contentsOf: payloads.unitTemplate, encoding: .utf8)
        } catch {
            throw PayloadError.unreadable(path: payloads.supervisorScript.deletingLastPathComponent().path, reason: "\(error)")
        }
        let result = try await root.run(try ServiceScripts.install(spec, supervisorScript: supervisor, unitTemplate: unit), timeout: 60)
        let status = try ServiceStatus.parse(result.stdoutText + "\n@@state running")
        guard result.exitStatus == 0 else {
            throw ServiceError.scriptFailed("installing the service failed: \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return status.manager ?? "unknown"
    }

    /// After a launch that failed with `error`: stops the service and takes it out of the boot sequence, so a
    /// failing engine does not restart forever or at every boot, and returns the error that says so.
    public func abandon(_ spec: EngineLaunchSpec, after error: Error) async -> ServiceError {
        let stopped = (try? await stop(spec)).map { $0.state == .stopped } ?? false
        return .launchAbandoned(reason: "\(error)", service: spec.serviceName, stopped: stopped,
                                causeCode: (error as? CodedError)?.errorCode)
    }

    public func stop(_ spec: EngineLaunchSpec) async throws -> ServiceStatus {
        try ServiceStatus.parse(try await root.run(try ServiceScripts.stop(spec), timeout: 60).stdoutText)
    }

    public func status(_ spec: EngineLaunchSpec) async throws -> ServiceStatus {
        try ServiceStatus.parse(try await root.run(try ServiceScripts.status(spec), timeout: 30).stdoutText)
    }

    public func logs(_ spec: EngineLaunchSpec, lines: Int) async throws -> String {
        let output = try await root.run(try ServiceScripts.logs(spec, lines: lines), timeout: 30).stdoutText
        if let error = output.split(separator: "\n").first(where: { $0.hasPrefix("@@error:") }) {
            throw ServiceError.scriptFailed(String(error.dropFirst(8)))
        }
        return output
    }
}

extension ServiceError: CodedError {
    public var errorCode: String {
        switch self {
        case .scriptFailed: return "service_failed"
        case .malformedStatus: return "service_status_malformed"
        case .notReady: return "engine_not_ready"
        case .failedToLoad: return "engine_load_failed"
        case .timedOut: return "engine_timeout"
        case .crashLoop: return "engine_crash_loop"
        // What made the launch fail (a crash loop, a load failure, a timeout) is what a script acts on; the
        // message says the service was stopped.
        case .launchAbandoned(_, _, _, let cause): return cause ?? "launch_failed"
        case .answerRejected: return "bad_answer"
        case .noDeploymentNamed: return "no_deployment"
        case .notPushed: return "not_pushed"
        }
    }

    /// An engine still loading may be ready next time; one that crashed or failed to load will not be.
    public var isRetryable: Bool {
        switch self {
        case .notReady, .timedOut: return true
        default: return false
        }
    }
}
