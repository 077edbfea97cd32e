import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `tpu-llm-engine serve` over the simulated runtime and the llama2 sim model, spoken to over real sockets as a
/// client would: health states, the OpenAI endpoints, refusals, the queue, cancellation, metrics, stopping, and
/// the web page in a headless Chromium.
@Suite(.serialized, .hangGuard)
struct EngineServerTests {
    static let prompt = [["role": "user", "content": "Hello"]]

    @Test func healthSaysLoadingThenReady() throws {
        let engine = try ServedEngine(environment: ["TPU_ENGINE_LOAD_DELAY_MS": "1500"])
        let loading = try HTTP.get(engine.port, "/health")
        #expect(loading.status == 503)
        #expect(try loading.json()["status"] as? String == "loading")
        #expect(try loading.json()["model"] as? String == "llama2-sim")

        let ready = try engine.waitUntilReady()
        #expect(ready["status"] as? String == "ready")
        #expect(ready["family"] as? String == "llama2")
        #expect(ready["layout"] as? String == "sophgo/LLM-TPU")
        #expect(ready["layers"] as? Int == 4)
        #expect(ready["seq_len"] as? Int == 128)
        #expect((ready["load_seconds"] as? Double ?? 0) >= 1.4)
        #expect(try HTTP.get(engine.port, "/health").status == 200)
    }

    @Test func modelsListsTheModelName() throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()  // 503 while loading (EngineOpenAIClientTests.modelsAnswer503WhileLoading)
        let models = try HTTP.get(engine.port, "/v1/models").json()
        #expect(models["object"] as? String == "list")
        let data = models["data"] as? [[String: Any]] ?? []
        #expect(data.count == 1)
        #expect(data.first?["id"] as? String == "llama2-sim")
        #expect(data.first?["owned_by"] as? String == "tpudeploy")
        #expect((data.first?["created"] as? Int ?? 0) > 1_600_000_000)

        let named = try ServedEngine(arguments: ["--model-name", "my-assistant"])
        try named.waitUntilReady()
        let renamed = try HTTP.get(named.port, "/v1/models").json()["data"] as? [[String: Any]]
        #expect(renamed?.first?["id"] as? String == "my-assistant")
    }

    @Test func completionEqualsGenerate() async throws {
        let expected = try await GreedyAnswer.of(Self.prompt)
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "temperature": 0])
        #expect(reply.status == 200)
        let body = try reply.json()
        #expect(body["object"] as? String == "chat.completion")
        let choice = (body["choices"] as? [[String: Any]])?.first
        let message = choice?["message"] as? [String: Any]
        #expect(message?["role"] as? String == "assistant")
        #expect(message?["content"] as? String == expected.text)
        #expect(choice?["finish_reason"] as? String == "stop")
        let usage = body["usage"] as? [String: Any]
        #expect(usage?["prompt_tokens"] as? Int == expected.promptTokens)
        #expect(usage?["completion_tokens"] as? Int == expected.tokens)
        #expect(usage?["total_tokens"] as? Int == expected.promptTokens + expected.tokens)
    }

    @Test func streamedChunksMakeTheSameText() async throws {
        let expected = try await GreedyAnswer.of(Self.prompt)
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "stream": true, "temperature": 0])
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let events = reply.serverSentEvents()
        #expect(events.last == "[DONE]")
        let chunks = try events.dropLast().map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let choices = chunks.map { ($0["choices"] as? [[String: Any]])?.first ?? [:] }
        #expect((choices.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
        let text = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        #expect(text == expected.text)
        #expect(choices.last?["finish_reason"] as? String == "stop")
        #expect(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
        #expect(choices.count > 3, "the answer should come in many pieces, not one")
    }

    @Test func badRequestsAreRefusedNamingTheField() throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let cases: [(body: String, names: String)] = [
            (#"{"messages": [{"role": "user", "content": "hi"}"#, "JSON"),
            (#"{"model": "x"}"#, "messages"),
            (#"{"messages": []}"#, "messages"),
            (#"{"messages": [{"role": "robot", "content": "hi"}]}"#, "messages[0].role"),
            (#"{"messages": [{"role": "user"}]}"#, "messages[0].content"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "temperature": 2.5}"#, "temperature"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}"#, "top_p"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}"#, "max_tokens"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}"#, "stop"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}"#, "stream"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "seed": "abc"}"#, "seed"),
        ]
        for (body, field) in cases {
            let reply = try HTTP.send(engine.port, "POST", "/v1/chat/completions", body: Data(body.utf8))
            #expect(reply.status == 400, "\(body)")
            let error = try reply.json()["error"] as? [String: Any]
            #expect(error?["type"] as? String == "invalid_request_error")
            #expect((error?["message"] as? String ?? "").contains(field), "\(body) → \(reply.text)")
        }
        // Unknown fields are ignored.
        let extra = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 2, "frequency_penalty": 0, "user": "x"])
        #expect(extra.status == 200)
    }

    @Test func aMessageLongerThanTheContextIsRefused() throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let long = String(repeating: "hello world ", count: 200)
        let reply = try HTTP.chat(engine.port, ["messages": [["role": "user", "content": long]]])
        #expect(reply.status == 400)
        let message = (try reply.json()["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("context"), "\(message)")
    }

    @Test func anAPIKeyGuardsEverythingButHealth() throws {
        let keyFile = try Self.secretFile("s3cret\n")
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let engine = try ServedEngine(arguments: ["--api-key-file", keyFile])
        try engine.waitUntilReady()
        #expect(try HTTP.get(engine.port, "/v1/models").status == 401)
        #expect(try HTTP.get(engine.port, "/v1/models", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try HTTP.get(engine.port, "/metrics").status == 401)
        let refused = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 2])
        #expect(refused.status == 401)
        #expect((try refused.json()["error"] as? [String: Any])?["type"] as? String == "authentication_error")
        #expect(try HTTP.get(engine.port, "/v1/models", headers: ["Authorization": "Bearer s3cret"]).status == 200)
        let allowed = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 2],
                                    headers: ["Authorization": "Bearer s3cret"])
        #expect(allowed.status == 200)

        let fromEnvironment = try ServedEngine(environment: ["TPU_ENGINE_API_KEY": "k2"])
        try fromEnvironment.waitUntilReady()
        #expect(try HTTP.get(fromEnvironment.port, "/v1/models").status == 401)
        #expect(try HTTP.get(fromEnvironment.port, "/v1/models", headers: ["Authorization": "Bearer k2"]).status == 200)
    }

    /// A file only its owner may read, holding `text`.
    static func secretFile(_ text: String, mode: Int = 0o600) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-engine-key-\(UUID())").path
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw EngineTestSupport.MissingPrerequisite(description: "cannot write \(path)")
        }
        return path
    }

    /// The key never travels on the command line: `--api-key KEY` is refused, naming the way that keeps it out
    /// of `ps`; a key file others may read, an empty one or a missing one is refused naming the file.
    @Test func theKeyComesFromAFileOnlyItsOwnerReads() async throws {
        let directory = try EngineTestSupport.simModel("llama2-sim")
        let base = ["serve", "--model", directory.appendingPathComponent("llama2-sim.bmodel").path,
                    "--tokenizer", directory.appendingPathComponent("tokenizer.model").path, "--port", "0"]
        let onTheCommandLine = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, base + ["--api-key", "s3cret"])
        #expect(onTheCommandLine.status == 2)
        #expect(onTheCommandLine.standardError.contains("--api-key-file FILE"), "\(onTheCommandLine.standardError)")

        let readable = try Self.secretFile("s3cret\n", mode: 0o644)
        let empty = try Self.secretFile("\n")
        defer { for file in [readable, empty] { try? FileManager.default.removeItem(atPath: file) } }
        let missing = readable + "-missing"
        for (file, complaint) in [(readable, "chmod 600"), (empty, "empty"), (missing, "No such file")] {
            let refused = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, base + ["--api-key-file", file])
            #expect(refused.status == 2, "\(file)")
            #expect(refused.standardError.contains(file) && refused.standardError.contains(complaint), "\(refused.standardError)")
            #expect(!refused.standardError.contains("s3cret"))
        }
    }

    /// Two engines on one port: the second must not bind beside the first (cpp-httplib's SO_REUSEPORT would let
    /// it, and the kernel would share the first one's clients between them). It exits saying the port is taken.
    @Test func aPortInUseIsRefused() throws {
        let first = try ServedEngine()
        let directory = try EngineTestSupport.simModel("llama2-sim")
        let second = Process()
        second.executableURL = EngineTestSupport.engineExecutable
        second.arguments = ["serve", "--model", directory.appendingPathComponent("llama2-sim.bmodel").path,
                            "--tokenizer", directory.appendingPathComponent("tokenizer.model").path,
                            "--port", String(first.port), "--model-name", "second"]
        let errors = Pipe()
        second.standardError = errors
        second.standardOutput = FileHandle.nullDevice
        second.standardInput = FileHandle.nullDevice
        try second.run()
        // A second engine that did bind would serve until killed: give it a generous while, then stop it.
        let deadline = Date().addingTimeInterval(20)
        while second.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let stillRunning = second.isRunning
        if stillRunning { kill(second.processIdentifier, SIGKILL) }
        second.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!stillRunning, "a second engine listens on port \(first.port) beside the first")
        #expect(second.terminationStatus == 1)
        #expect(message.contains("cannot listen on 127.0.0.1:\(first.port): the port is already in use"), "\(message)")
        #expect(message.contains("--port"))
        // The first engine still answers alone (once loaded: /v1/models is a 503 while the model loads).
        _ = try first.waitUntilReady()
        let models = try HTTP.get(first.port, "/v1/models").json()["data"] as? [[String: Any]]
        #expect(models?.first?["id"] as? String == "llama2-sim")
    }

    @Test func aFullQueueAnswers429WithRetryAfter() throws {
        let engine = try ServedEngine(arguments: ["--queue", "0"], environment: ["TPU_ENGINE_PIECE_DELAY_MS": "100"])
        try engine.waitUntilReady()
        let running = try HTTPConnection(port: engine.port)
        defer { running.close() }
        try running.sendChat(["messages": Self.prompt, "stream": true])
        try running.readUntilContent()
        let refused = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 2])
        #expect(refused.status == 429)
        #expect(Int(refused.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect((try refused.json()["error"] as? [String: Any])?["message"] != nil)
    }

    @Test func aStreamingClientThatLeavesFreesTheDevice() throws {
        // 200 ms per piece: the whole answer would hold the device for about 7 s.
        let engine = try ServedEngine(arguments: ["--queue", "0"], environment: ["TPU_ENGINE_PIECE_DELAY_MS": "200"])
        try engine.waitUntilReady()
        let leaving = try HTTPConnection(port: engine.port)
        try leaving.sendChat(["messages": Self.prompt, "stream": true])
        try leaving.readUntilContent()
        leaving.close()
        let left = Date()
        var reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 1])
        while reply.status == 429 && Date().timeIntervalSince(left) < 10 {
            Thread.sleep(forTimeInterval: 0.05)
            reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 1])
        }
        #expect(reply.status == 200)
        #expect(Date().timeIntervalSince(left) < 2, "the device stayed busy after the client left")
        let generated = try engine.metric("tpu_engine_generated_tokens_total")
        #expect(generated < 10, "the abandoned generation went on: \(generated) tokens")
    }

    @Test func aNonStreamingClientThatLeavesFreesTheDevice() throws {
        let engine = try ServedEngine(arguments: ["--queue", "0"], environment: ["TPU_ENGINE_PIECE_DELAY_MS": "200"])
        try engine.waitUntilReady()
        let leaving = try HTTPConnection(port: engine.port)
        try leaving.sendChat(["messages": Self.prompt])
        Thread.sleep(forTimeInterval: 0.6)
        leaving.close()
        let left = Date()
        var reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 1])
        while reply.status == 429 && Date().timeIntervalSince(left) < 10 {
            Thread.sleep(forTimeInterval: 0.05)
            reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 1])
        }
        #expect(reply.status == 200)
        #expect(Date().timeIntervalSince(left) < 2, "the device stayed busy after the client left")
    }

    @Test func metricsCount() throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let before = try HTTP.get(engine.port, "/metrics")
        #expect(before.status == 200)
        #expect(before.headers["content-type"]?.hasPrefix("text/plain") == true)
        let requestsBefore = try engine.metric(#"tpu_engine_requests_total{code="200"}"#)
        let reply = try HTTP.chat(engine.port, ["messages": Self.prompt, "max_tokens": 5]).json()
        let usage = reply["usage"] as? [String: Any]
        #expect(try HTTP.get(engine.port, "/nowhere").status == 404)

        #expect(try engine.metric(#"tpu_engine_requests_total{code="200"}"#) >= requestsBefore + 2)
        #expect(try engine.metric(#"tpu_engine_requests_total{code="404"}"#) == 1)
        #expect(try engine.metric("tpu_engine_generated_tokens_total") == Double(usage?["completion_tokens"] as? Int ?? -1))
        #expect(try engine.metric("tpu_engine_prompt_tokens_total") == Double(usage?["prompt_tokens"] as? Int ?? -1))
        #expect(try engine.metric("tpu_engine_time_to_first_token_seconds_count") == 1)
        #expect(try engine.metric("tpu_engine_time_to_first_token_seconds_sum") > 0)
        #expect(try engine.metric("tpu_engine_decode_tokens_per_second") > 0)
        #expect(try engine.metric("tpu_engine_queue_depth") == 0)
        _ = try engine.metric("tpu_engine_npu_memory_used_bytes")
    }

    @Test func unknownPathsAnswer404JSON() throws {
        let engine = try ServedEngine()
        let reply = try HTTP.get(engine.port, "/v2/whatever")
        #expect(reply.status == 404)
        #expect((try reply.json()["error"] as? [String: Any])?["message"] as? String != nil)
    }

    @Test func aMissingModelFileShowsAsFailed() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID()).bmodel").path
        let engine = try ServedEngine(modelFile: missing)
        var health = try HTTP.get(engine.port, "/health")
        let deadline = Date().addingTimeInterval(ServedEngine.readyWait)
        while (try health.json()["status"] as? String) == "loading" && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            health = try HTTP.get(engine.port, "/health")
        }
        #expect(health.status == 503)
        #expect(try health.json()["status"] as? String == "failed")
        let reason = try health.json()["reason"] as? String ?? ""
        #expect(!reason.isEmpty)
        // It stays up, answering `failed`, and refuses chats with 503.
        #expect(engine.isRunning)
        #expect(try HTTP.chat(engine.port, ["messages": Self.prompt]).status == 503)
    }

    @Test func exitOnFailureExits3() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID()).bmodel").path
        let engine = try ServedEngine(modelFile: missing, arguments: ["--exit-on-failure"])
        let status = engine.waitForExit(timeout: 20)
        #expect(status == 3)
        #expect(engine.log.contains("tpu-llm-engine: error: "), "\(engine.log)")
    }

    @Test func sigtermStopsCleanlyEvenMidGeneration() throws {
        let engine = try ServedEngine(environment: ["TPU_ENGINE_PIECE_DELAY_MS": "200"])
        try engine.waitUntilReady()
        let streaming = try HTTPConnection(port: engine.port)
        defer { streaming.close() }
        try streaming.sendChat(["messages": Self.prompt, "stream": true])
        try streaming.readUntilContent()
        let stopping = Date()
        kill(engine.processIdentifier, SIGTERM)
        #expect(engine.waitForExit(timeout: 10) == 0)
        #expect(Date().timeIntervalSince(stopping) < 5)
    }

    @Test func theChatPageIsSelfContained() throws {
        let engine = try ServedEngine()
        let page = try HTTP.get(engine.port, "/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<textarea"))
        #expect(page.text.contains("/v1/chat/completions"))
        #expect(!page.text.contains("http://") && !page.text.contains("https://"), "the page loads nothing from elsewhere")
    }

    @Test func theChatPageAnswersInHeadlessChromium() async throws {
        let expected = try await GreedyAnswer.of(Self.prompt)
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let browser = try HeadlessChromium()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(engine.port)/?prompt=Hello")
        let state = try browser.waitForPageState(["done", "error", "failed"], timeout: 120)
        #expect(state == "done")
        let answer = try browser.evaluate("document.querySelector('.message.assistant').textContent") as? String
        #expect(answer == expected.text)
        let dom = try browser.evaluate("document.documentElement.outerHTML") as? String ?? ""
        let escaped = expected.text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        #expect(dom.contains(escaped))
        #expect(dom.contains(#"class="message user">Hello<"#))

        let png = try browser.screenshot()
        #expect(png.count > 1000)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-engine-chat-page.png")
        try png.write(to: file)
    }
}

// MARK: - The engine under test

/// A `tpu-llm-engine serve --port 0` process; stopped (SIGKILL if need be) when released.
final class ServedEngine {
    private let process = Process()
    private let errorLog: URL
    let port: Int

    /// `tokenizer`: the file or folder in the model's directory passed as --tokenizer.
    init(model: String = "llama2-sim", modelFile: String? = nil, tokenizer: String = "tokenizer.model",
         arguments: [String] = [], environment: [String: String] = [:]) throws {
        let directory = try EngineTestSupport.simModel(model)
        let runtime = try EngineTestSupport.simRuntimeDirectory()
        process.executableURL = EngineTestSupport.engineExecutable
        process.arguments = ["serve", "--model", modelFile ?? directory.appendingPathComponent("\(model).bmodel").path,
                             "--tokenizer", directory.appendingPathComponent(tokenizer).path,
                             "--runtime-dir", runtime.path, "--port", "0"] + arguments
        var variables = EngineTestSupport.childEnvironment()
        variables["TPU_ENGINE_API_KEY"] = nil
        process.environment = variables.merging(environment) { $1 }
        errorLog = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-engine-serve-\(UUID()).log")
        FileManager.default.createFile(atPath: errorLog.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errorLog)
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()

        // The first line says where it listens: "listening on http://127.0.0.1:PORT".
        var line = Data()
        while !line.contains(10) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            line.append(more)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":").last ?? "") else {
            process.waitUntilExit()
            throw EngineTestSupport.MissingPrerequisite(
                description: "serve did not say where it listens: \(text) \(String(decoding: (try? Data(contentsOf: errorLog)) ?? Data(), as: UTF8.self))")
        }
        self.port = port
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: errorLog)
    }

    var processIdentifier: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { String(decoding: (try? Data(contentsOf: errorLog)) ?? Data(), as: UTF8.self) }

    /// The exit status, or nil when it is still running after `timeout` seconds.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// How long a load may take before the test calls it stuck: far longer than it takes on two busy cores, since
    /// waiting ends as soon as the engine is ready.
    static let readyWait: Double = 180

    /// Polls /health until `ready`; fails on `failed` or after `readyWait`.
    @discardableResult
    func waitUntilReady() throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(Self.readyWait)
        while Date() < deadline {
            let health = try HTTP.get(port, "/health").json()
            if health["status"] as? String == "ready" { return health }
            if health["status"] as? String == "failed" {
                throw EngineTestSupport.MissingPrerequisite(description: "the engine failed to load: \(health["reason"] ?? "")")
            }
            Thread.sleep(forTimeInterval: 0.03)
        }
        throw EngineTestSupport.MissingPrerequisite(description: "the engine was not ready after \(Int(Self.readyWait)) s: \(log)")
    }

    /// One sample's value from /metrics, by its full name with labels.
    func metric(_ name: String) throws -> Double {
        let text = try HTTP.get(port, "/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            if let value = Double(line.dropFirst(name.count + 1)) { return value }
        }
        throw EngineTestSupport.MissingPrerequisite(description: "no \(name) in /metrics:\n\(text)")
    }
}

/// `tpu-llm-engine generate --messages … --json`: the reference a server answer must equal.
struct GreedyAnswer {
    let text: String
    let tokens: Int
    let promptTokens: Int

    static func of(_ messages: [[String: String]], model: String = "llama2-sim") async throws -> GreedyAnswer {
        let directory = try EngineTestSupport.simModel(model)
        let runtime = try EngineTestSupport.simRuntimeDirectory()
        let json = String(decoding: try JSONSerialization.data(withJSONObject: messages), as: UTF8.self)
        let outcome = try await EngineTestSupport.run(EngineTestSupport.engineExecutable, [
            "generate", "--model", directory.appendingPathComponent("\(model).bmodel").path,
            "--tokenizer", directory.appendingPathComponent("tokenizer.model").path,
            "--runtime-dir", runtime.path, "--messages", json, "--json",
        ])
        guard outcome.status == 0,
              let object = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any],
              let text = object["text"] as? String, let tokens = object["tokens"] as? [Int],
              let prompt = object["prompt_ids"] as? [Int] else {
            throw EngineTestSupport.MissingPrerequisite(description: "generate failed: \(outcome.standardError)")
        }
        return GreedyAnswer(text: text, tokens: tokens.count, promptTokens: prompt.count)
    }
}

// MARK: - HTTP over a plain socket

struct HTTPReply {
    let status: Int
    let headers: [String: String]  // names lowercased
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw EngineTestSupport.MissingPrerequisite(description: "not a JSON object: \(text)")
        }
        return object
    }

    /// The `data` of each event of a `text/event-stream` body.
    func serverSentEvents() -> [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let data = block.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
            return data.isEmpty ? nil : data.joined(separator: "\n")
        }
    }

    /// Parses a whole HTTP/1.1 response, undoing chunked transfer encoding.
    static func parse(_ data: Data) throws -> HTTPReply {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else {
            throw EngineTestSupport.MissingPrerequisite(description: "no complete HTTP head in \(data.count) bytes")
        }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded = Data(), rest = body[...]
            while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
                let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
                if size == 0 { break }
                let start = lineEnd.upperBound
                guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
                decoded.append(rest[start..<rest.index(start, offsetBy: size)])
                rest = rest[rest.index(start, offsetBy: min(size + 2, rest.distance(from: start, to: rest.endIndex)))...]
            }
            body = decoded
        }
        return HTTPReply(status: status, headers: headers, body: body)
    }
}

/// One TCP connection to 127.0.0.1, with a 30 s receive timeout so that a stuck server fails the test.
final class HTTPConnection {
    private var socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw EngineTestSupport.MissingPrerequisite(description: "cannot connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit { close() }

    func close() {
        if socket >= 0 { Glibc.close(socket) }
        socket = -1
    }

    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        var bytes = Data((head + "\r\n").utf8)
        if let body { bytes.append(body) }
        let sent = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw EngineTestSupport.MissingPrerequisite(description: "send failed: errno \(errno)") }
    }

    func sendChat(_ body: [String: Any], headers: [String: String] = [:]) throws {
        try send("POST", "/v1/chat/completions", headers: headers, body: try JSONSerialization.data(withJSONObject: body))
    }

    /// The next bytes; empty at the end of the stream.
    func receive() throws -> Data {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(socket, &buffer, buffer.count, 0)
        guard count >= 0 else { throw EngineTestSupport.MissingPrerequisite(description: "receive failed: errno \(errno)") }
        return Data(buffer[0..<count])
    }

    func receiveAll() throws -> Data {
        var data = Data()
        while true {
            let more = try receive()
            if more.isEmpty { return data }
            data.append(more)
        }
    }

    /// Reads a streamed answer until its first piece of content has arrived.
    func readUntilContent() throws {
        var seen = ""
        while !seen.contains(#""delta":{"content":""#) {
            let more = try receive()
            if more.isEmpty { throw EngineTestSupport.MissingPrerequisite(description: "stream ended early: \(seen)") }
            seen += String(decoding: more, as: UTF8.self)
        }
    }
}

enum HTTP {
    static func send(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:],
                     body: Data? = nil) throws -> HTTPReply {
        let connection = try HTTPConnection(port: port)
        defer { connection.close() }
        try connection.send(method, path, headers: headers, body: body)
        return try HTTPReply.parse(try connection.receiveAll())
    }

    static func get(_ port: Int, _ path: String, headers: [String: String] = [:]) throws -> HTTPReply {
        try send(port, "GET", path, headers: headers)
    }

    static func chat(_ port: Int, _ body: [String: Any], headers: [String: String] = [:]) throws -> HTTPReply {
        try send(port, "POST", "/v1/chat/completions", headers: headers, body: try JSONSerialization.data(withJSONObject: body))
    }
}

// MARK: - A headless Chromium driven over the DevTools protocol

/// Chromium with `--remote-debugging-pipe`: commands go in on its fd 3 and answers come out on its fd 4, each a
/// JSON message ended by a NUL byte. Polling the page's state this way does not depend on how long anything takes.
final class HeadlessChromium {
    private let process = Process()
    private let commands = Pipe()
    private let answers = Pipe()
    private let profile: URL
    private var pending = Data()
    private var nextID = 0
    private var session: String?

    init() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw EngineTestSupport.MissingPrerequisite(
                description: "no chromium: `apt-get install -y --no-install-recommends chromium` (make setup)")
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-engine-chromium-\(UUID())")
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let flags = "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --window-size=1000,700 " +
            "--remote-debugging-pipe --user-data-dir='\(profile.path)' about:blank"
        process.arguments = ["-c", "exec \(chromium) \(flags) 3<&0 4>&1 >/dev/null 2>&1"]
        process.standardInput = commands
        process.standardOutput = answers
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func quit() {
        _ = try? call("Browser.close", onPage: false)
        try? commands.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
    }

    /// Opens `url` in a new tab and attaches to it.
    func open(_ url: String) throws {
        let target = try call("Target.createTarget", ["url": url], onPage: false)
        guard let id = target["targetId"] as? String else { throw failure("no targetId: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": id, "flatten": true], onPage: false)
        session = attached["sessionId"] as? String
    }

    /// The value of a JavaScript expression in the page.
    func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls `document.body.dataset.state` until it is one of `states`.
    func waitForPageState(_ states: Set<String>, timeout: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var state = ""
        while Date() < deadline {
            state = try evaluate("document.body ? document.body.dataset.state : ''") as? String ?? ""
            if states.contains(state) { return state }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw failure("the page stayed in state '\(state)' for \(timeout) s")
    }

    func screenshot() throws -> Data {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw failure("no screenshot data")
        }
        return png
    }

    private func failure(_ message: String) -> Error {
        EngineTestSupport.MissingPrerequisite(description: "chromium: \(message)")
    }

    private func call(_ method: String, _ parameters: [String: Any] = [:], onPage: Bool = true) throws -> [String: Any] {
        nextID += 1
        var message: [String: Any] = ["id": nextID, "method": method, "params": parameters]
        if onPage, let session { message["sessionId"] = session }
        var bytes = try JSONSerialization.data(withJSONObject: message)
        bytes.append(0)
        try commands.fileHandleForWriting.write(contentsOf: bytes)
        while true {
            while let end = pending.firstIndex(of: 0) {
                let reply = pending[pending.startIndex..<end]
                pending = Data(pending[pending.index(after: end)...])
                guard let object = try JSONSerialization.jsonObject(with: reply) as? [String: Any],
                      object["id"] as? Int == nextID else { continue } // events and other answers
                if let error = object["error"] { throw failure("\(method): \(error)") }
                return object["result"] as? [String: Any] ?? [:]
            }
            let more = answers.fileHandleForReading.availableData
            if more.isEmpty { throw failure("it quit while answering \(method)") }
            pending.append(more)
        }
    }
}
