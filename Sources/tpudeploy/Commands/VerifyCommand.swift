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
            let verifier = EngineVerifier(prompt: prompt, maxTokens: maxTokens, askForKey: apiKey.prompt)
            let result = try await context.withBoard(apiKey: try apiKey.key()) { board in try await verifier.verify(board) }
            let report = Report(deployment: result.deployment, health: result.health, prompt: result.prompt, reply: result.reply,
                                npuMemoryUsedBytes: result.npuMemoryUsedBytes, ok: result.ok, problem: result.problem)
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
