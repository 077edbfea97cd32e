import Foundation
import TPUDeployKit

/// The engine's own costs, on this machine with the simulated runtime (docs/engine-interface.md):
/// host time per generated token with net execution made free (`TPU_SIM_FREE_NETS=1`), tokenizer throughput,
/// startup to ready excluding the model load, and resident memory.
struct EngineBenchmarkResult: Encodable {
    var name = "tpu-llm-engine on the simulated runtime (llama2-sim, release build)"
    var runs: Int
    var hostMicrosecondsPerToken: Figure
    var hostCostGoal = "under 200 µs per generated token with free nets"
    var hostCostGoalMet: Bool
    var microsecondsPerTokenWithSimMath: Figure
    var tokenizerMegabytesPerSecond: Figure
    var tokenizerTokensPerSecond: Figure
    var startupToReadySeconds: Figure
    var startupNote = "process start to /health ready, minus the load_seconds the engine reports"
    var rssBeforeModelMiB: Double
    var rssReadyMiB: Double
    var rssGoal = "under 30 MB without the model"
    var rssGoalMet: Bool
    var notes: String
}

func benchmarkEngine(runs: Int, scratch: URL) async throws -> (result: any Encodable, summary: String) {
    let model = URL(fileURLWithPath: "build/sim-models/llama2-sim")
    let (engine, runtime) = try simulatedEngine(model: model.appendingPathComponent("llama2-sim.bmodel").path, make: "sim-models", scratch: scratch)
    let modelArguments = ["--model", model.appendingPathComponent("llama2-sim.bmodel").path,
                          "--tokenizer", model.appendingPathComponent("tokenizer.model").path, "--runtime-dir", runtime]
    var environment = ProcessInfo.processInfo.environment
    environment["TPU_SIM_NPU_HEAP_BYTES"] = String(8 << 30)

    // Host cost per token: a long generation whose nets cost nothing, so what is left is the engine's own work
    // (mask and position building, copies, KV bookkeeping, sampling, detokenising).
    func decodeRate(freeNets: Bool) throws -> Double {
        var env = environment
        env["TPU_SIM_FREE_NETS"] = freeNets ? "1" : "0"
        let output = try runCapturing(engine, ["generate"] + modelArguments + ["--ids", "1,300,301,302,303,304,305,306", "--max-tokens", "110", "--json"], environment: env)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let rate = object["decode_tokens_per_second"] as? Double, rate > 0,
              let tokens = object["tokens"] as? [Any], tokens.count >= (freeNets ? 100 : 5) else {
            throw BenchmarkError(description: "unexpected generate output: \(output.prefix(300))")
        }
        return 1e6 / rate
    }
    var free: [Double] = [], withMath: [Double] = []
    for _ in 0..<runs {
        free.append(try decodeRate(freeNets: true))
        withMath.append(try decodeRate(freeNets: false))
    }

    // Tokenizer: encoding a 400 kB text, load excluded (the engine times the encoding itself).
    let corpus = try String(contentsOfFile: "Tests/Reference/corpus.txt", encoding: .utf8)
    let text = scratch.appendingPathComponent("text.txt")
    try String(repeating: corpus, count: max(1, 400_000 / max(1, corpus.utf8.count))).write(to: text, atomically: true, encoding: .utf8)
    var megabytes: [Double] = [], tokenRates: [Double] = []
    for _ in 0..<runs {
        let output = try runCapturing(engine, ["tokenize", "--tokenizer", model.appendingPathComponent("tokenizer.model").path,
                                               "--family", "llama2", "--text-file", text.path, "--summary"], environment: environment)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let bytes = object["bytes"] as? Double, let ids = object["ids"] as? Double, let seconds = object["seconds"] as? Double, seconds > 0 else {
            throw BenchmarkError(description: "unexpected tokenize output: \(output.prefix(300))")
        }
        megabytes.append(bytes / seconds / 1e6)
        tokenRates.append(ids / seconds)
    }

    // Startup and memory of the resident server.
    var startups: [Double] = []
    var readyRSS: [Double] = []
    for _ in 0..<runs {
        let server = try EngineServerProcess(engine: engine, arguments: modelArguments, environment: environment)
        defer { server.stop() }
        let health = try server.waitForHealth(status: .ready, timeout: 60)
        startups.append(server.elapsed - (health.loadSeconds ?? 0))
        readyRSS.append(server.residentMiB())
    }
    var delayed = environment
    delayed["TPU_ENGINE_LOAD_DELAY_MS"] = "1500"
    let loading = try EngineServerProcess(engine: engine, arguments: modelArguments, environment: delayed)
    _ = try loading.waitForHealth(status: .loading, timeout: 30)
    let beforeModel = loading.residentMiB()
    loading.stop()

    let result = EngineBenchmarkResult(
        runs: runs, hostMicrosecondsPerToken: Figure(free, unit: "µs"), hostCostGoalMet: median(free) < 200,
        microsecondsPerTokenWithSimMath: Figure(withMath, unit: "µs"),
        tokenizerMegabytesPerSecond: Figure(megabytes, unit: "MB/s"), tokenizerTokensPerSecond: Figure(tokenRates, unit: "tokens/s"),
        startupToReadySeconds: Figure(startups, unit: "s"), rssBeforeModelMiB: beforeModel, rssReadyMiB: median(readyRSS),
        rssGoalMet: median(readyRSS) < 30,
        notes: "rss_ready_mib includes the tiny sim model and the simulated runtime, which keeps device memory in host memory (an upper bound for the engine alone); rss_before_model_mib is the server answering /health before it loads anything. The engine is linked with the static Swift runtime by SwiftPM (mapped, mostly untouched).")
    let summary = String(format: "engine: host cost %.1f µs/token with free nets (goal < 200 µs → %@; %.0f µs with sim math); tokenizer %.2f MB/s, %.0f tokens/s; startup to ready %.3f s excluding load; RSS %.1f MiB before the model, %.1f MiB ready (goal < 30 MB → %@)",
                         median(free), result.hostCostGoalMet ? "met" : "NOT met", median(withMath), median(megabytes), median(tokenRates),
                         median(startups), beforeModel, median(readyRSS), result.rssGoalMet ? "met" : "NOT met")
    return (result, summary)
}

/// Runs a program and returns its stdout; throws with stderr when it fails.
func runCapturing(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw BenchmarkError(description: "\(executable) \(arguments.first ?? "") failed: \(String(decoding: errorData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

/// A `tpu-llm-engine serve --port 0` process: its port from the "listening on" line, its health, its RSS.
private final class EngineServerProcess {
    let process = Process()
    let started = Date()
    private(set) var port = 0

    init(engine: String, arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: engine)
        process.arguments = ["serve"] + arguments + ["--port", "0"]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(10) {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { throw BenchmarkError(description: "the engine exited before listening") }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let portText = text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines), let port = Int(portText) else {
            throw BenchmarkError(description: "unexpected first line from serve: \(text)")
        }
        self.port = port
    }

    var elapsed: Double { Date().timeIntervalSince(started) }

    func waitForHealth(status: EngineHealth.Status, timeout: Double) throws -> EngineHealth {
        while elapsed < timeout {
            if let health = try? EngineAPI(port: port, timeout: 5).health(), health.status == status { return health }
            usleep(2000)
        }
        throw BenchmarkError(description: "the engine did not reach \(status.rawValue) within \(Int(timeout)) s")
    }

    func residentMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        let kib = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kib / 1024
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
