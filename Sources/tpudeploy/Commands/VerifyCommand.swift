import ArgumentParser
import Foundation
import TPUDeployKit

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Smoke-test the deployed engine: one short conversation, with time to first token, tokens/s and NPU memory.",
        discussion: """
            Exits non-zero when the engine is not ready or the answer is not text the tokenizer round-trips: empty, or holding ⁇ (U+2047, sentencepiece's mark for an unknown id), U+FFFD replacement characters or control characters — what damaged weights or another model's tokenizer produce. An engine launched with an API key wants it here too: TPUDEPLOY_API_KEY, --api-key-file FILE, or a prompt on a terminal.

              tpudeploy verify
              tpudeploy verify --prompt "What is 2+2?" --json
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The smoke question.")
    var prompt = "Hello! Who are you?"

    @Option(name: .long, help: "Tokens to generate at most.")
    var maxTokens = 48

    @OptionGroup var apiKey: APIKeyOptions

    struct Report: Encodable {
        var schema = "tpudeploy.verify/1"
        var deployment: String
        var health: EngineHealth
        var prompt: String
        var reply: ChatReply
        var npuMemoryUsedBytes: Int64?
        var ok: Bool
        /// Why the answer is not accepted; nil when ok.
        var problem: String?
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let prompt = self.prompt, maxTokens = self.maxTokens, fixMemoryCommand = context.fixMemoryCommand
            let report = try await context.engine.withAuthorizedAPI(apiKey: try apiKey.key(), askForKey: apiKey.prompt) { api, forward -> Report in
                let key = api.apiKey
                return try await Task.detached {
                    let health = try api.health()
                    if health.status == .failed { throw health.loadFailure(fixMemoryCommand: fixMemoryCommand) }
                    guard health.status == .ready else {
                        throw ServiceError.notReady(reason: "/health says \(health.status.rawValue)" + (health.reason.map { ": \($0)" } ?? ""), logTail: "")
                    }
                    let reply = try api.chat([ChatMessage(role: "user", content: prompt)],
                                             options: ChatOptions(temperature: 0, maxTokens: maxTokens)) { _ in }
                    let metrics = try? HTTPConnection.exchange(
                        port: forward.localPort, method: "GET", path: "/metrics",
                        headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:], timeout: 10)
                    let used = metrics.flatMap { PrometheusText.value(of: "tpu_engine_npu_memory_used_bytes", in: String(decoding: $0.body, as: UTF8.self)) }
                    return Report(deployment: context.engine.deployment.name, health: health, prompt: prompt, reply: reply,
                                  npuMemoryUsedBytes: used.map { Int64($0) }, ok: ReplyTextCheck.problem(in: reply.text) == nil,
                                  problem: ReplyTextCheck.problem(in: reply.text))
                }.value
            }
            if output.json {
                try printJSON(report)
            } else {
                let reply = report.reply
                print("engine: \(report.health.model ?? report.deployment) (\(report.health.family ?? "?"), \(report.health.layers.map(String.init) ?? "?") layers) ready")
                print("Q: \(report.prompt)")
                print("A: \(reply.text)")
                print(String(format: "time to first token %.3f s, %@ tokens/s, %d tokens, %.2f s in all",
                             reply.timeToFirstToken ?? 0, reply.tokensPerSecond.map { String(format: "%.1f", $0) } ?? "?",
                             reply.completionTokens ?? 0, reply.totalSeconds))
                if let used = report.npuMemoryUsedBytes { print("NPU memory in use: \(ByteCount.human(UInt64(max(0, used))))") }
                print(report.ok ? "verify: ok" : "verify: FAILED (\(report.problem ?? "bad answer"))")
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}
