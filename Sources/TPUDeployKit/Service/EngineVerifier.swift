import Foundation

/// What one smoke conversation with the engine showed.
public struct VerifyResult: Sendable, Equatable {
    public var deployment: String
    public var health: EngineHealth
    public var prompt: String
    public var reply: ChatReply
    /// The engine's `tpu_engine_npu_memory_used_bytes` gauge, when `/metrics` answered.
    public var npuMemoryUsedBytes: Int64?
    /// Why the answer is not accepted (`ReplyTextCheck`); nil when it is.
    public var problem: String?

    public var ok: Bool { problem == nil }

    /// Throws `ServiceError.answerRejected` when the answer is not accepted: for callers that treat a bad
    /// answer as a failed step (a rollout), where the single-board command prints the answer first.
    public func requireOK() throws {
        if let problem { throw ServiceError.answerRejected(problem: problem) }
    }
}

/// The verify step: one short conversation with the deployed engine through the board's SSH session, with its timings,
/// the NPU memory the engine holds, and whether the answer is text the tokenizer round-trips.
public struct EngineVerifier: Sendable {
    public var prompt: String
    public var maxTokens: Int
    /// Asked once when the engine wants a key and the context has none (a prompt on a terminal); nil never asks.
    public var askForKey: (@Sendable () throws -> EngineAPIKey?)?

    public init(prompt: String = "Hello! Who are you?", maxTokens: Int = 48, askForKey: (@Sendable () throws -> EngineAPIKey?)? = nil) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.askForKey = askForKey
    }

    /// Fails when the engine is not ready (or failed to load: with the fix-memory command when the NPU heap is
    /// short); a ready engine's answer comes back with `problem` set when it is not acceptable.
    /// Events: `verify` started, finished (only when the answer is accepted).
    public func verify(_ board: BoardContext) async throws -> VerifyResult {
        board.report(.verify, .started)
        let prompt = self.prompt, maxTokens = self.maxTokens
        let fixMemoryCommand = board.fixMemoryCommand, deployment = board.deployment.name
        let result = try await board.engine.withAuthorizedAPI(on: board.session, apiKey: board.apiKey, askForKey: askForKey) { api in
            let health = try await api.health()
            if health.status == .failed { throw health.loadFailure(fixMemoryCommand: fixMemoryCommand) }
            guard health.status == .ready else {
                throw ServiceError.notReady(reason: "/health says \(health.status.rawValue)" + (health.reason.map { ": \($0)" } ?? ""), logTail: "")
            }
            let reply = try await api.chat([ChatMessage(role: "user", content: prompt)],
                                           options: ChatOptions(temperature: 0, maxTokens: maxTokens)) { _ in }
            let metrics = try? await api.get("/metrics", timeout: 10)
            let used = metrics.flatMap { PrometheusText.value(of: "tpu_engine_npu_memory_used_bytes", in: String(decoding: $0.body, as: UTF8.self)) }
            return VerifyResult(deployment: deployment, health: health, prompt: prompt, reply: reply,
                                npuMemoryUsedBytes: used.map { Int64($0) }, problem: ReplyTextCheck.problem(in: reply.text))
        }
        if result.ok { board.report(.verify, .finished) }
        return result
    }
}
