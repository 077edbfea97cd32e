import Foundation

/// The engine's OpenAI-compatible API, reached on the board through its SSH session (a `direct-tcpip` channel
/// per request on the session already open: no second login, no local port) or at a port on this machine.
public struct EngineAPI: Sendable {
    /// Where the engine's HTTP requests go.
    public enum Route: Sendable {
        /// `port` on the board's 127.0.0.1, through `session`.
        case board(SSHSession, port: Int)
        /// `port` on this machine's 127.0.0.1 (`tpudeploy forward`, or an engine run here).
        case local(port: Int)
    }

    public var route: Route
    public var apiKey: String?
    /// Seconds every wait for the engine's next bytes may last (not the whole answer: a long one keeps streaming).
    public var timeout: Double

    public init(session: SSHSession, port: Int, apiKey: String? = nil, timeout: Double = 120) {
        route = .board(session, port: port)
        self.apiKey = apiKey
        self.timeout = timeout
    }

    public init(port: Int, apiKey: String? = nil, timeout: Double = 120) {
        route = .local(port: port)
        self.apiKey = apiKey
        self.timeout = timeout
    }

    private var headers: [String: String] {
        var headers = ["Accept": "application/json"]
        if let apiKey { headers["Authorization"] = "Bearer \(apiKey)" }
        return headers
    }

    /// Opens a connection to the engine, sends `request` (given the Host header's value) as it opens, and hands
    /// the connection to `body` for the response; closes it after.
    private func withStream<T: Sendable>(request: (_ host: String) -> [UInt8],
                                         _ body: (any HTTPByteStream) async throws -> T) async throws -> T {
        switch route {
        case .board(let session, let port):
            return try await session.withTunnel(toPort: port, sending: request("127.0.0.1:\(port)")) { try await body($0) }
        case .local(let port):
            let connection = try await DedicatedThread.run("tpudeploy.http-connect") { try HTTPConnection(port: port) }
            try await connection.write(request("127.0.0.1:\(port)"))
            return try await body(connection)
        }
    }

    /// One request, its body collected; every wait bounded by `timeout` (default: the API's).
    public func get(_ path: String, timeout: Double? = nil) async throws -> (head: HTTPResponseHead, body: Data) {
        let headers = self.headers, wait = timeout ?? self.timeout
        return try await withStream(request: { HTTPExchange.request(method: "GET", path: path, host: $0, headers: headers, body: nil) }) { stream in
            var collected = Data()
            let head = try await HTTPExchange.receive(on: stream, timeout: wait) { collected.append(contentsOf: $0) }
            return (head, collected)
        }
    }

    /// `GET /health`, waited for at most 10 s (or the API's shorter timeout).
    public func health() async throws -> EngineHealth {
        try EngineHealth.decode(try await get("/health", timeout: min(timeout, 10)).body)
    }

    /// `GET /health` on a local port, blocking (for callers on a thread of their own, like the benchmark).
    public func health() throws -> EngineHealth {
        guard case .local(let port) = route else {
            throw HTTPError.io("a blocking health check needs a local port; use `await health()` for a board")
        }
        let (_, body) = try HTTPConnection.exchange(port: port, method: "GET", path: "/health", headers: headers, timeout: min(timeout, 10))
        return try EngineHealth.decode(body)
    }

    /// Streams an answer: `onText` gets each piece as it arrives. `cancellation` lets another thread stop it.
    public func chat(_ messages: [ChatMessage], options: ChatOptions = ChatOptions(), model: String? = nil,
                     cancellation: HTTPCancellation? = nil, onText: (String) -> Void) async throws -> ChatReply {
        let started = Date()
        let body = try ChatRequestBody.encode(messages: messages, options: options, stream: true, model: model)
        var requestHeaders = headers
        requestHeaders["Content-Type"] = "application/json"
        requestHeaders["Accept"] = "text/event-stream"
        let wait = timeout, sendHeaders = requestHeaders
        let request = { (host: String) in
            HTTPExchange.request(method: "POST", path: "/v1/chat/completions", host: host, headers: sendHeaders, body: body)
        }
        let answer = try await withStream(request: request) { stream in
            var reader = ChatStreamReader()
            try await HTTPExchange.receive(on: stream, timeout: wait, cancellation: cancellation,
                                           onHead: { reader.status = $0.status }) { try reader.consume($0, onText: onText) }
            return reader
        }
        return try answer.reply(started: started, finished: Date())
    }

    static func errorMessage(_ body: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
           let error = object["error"] as? [String: Any], let message = error["message"] as? String {
            return message
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no details" : text
    }
}

/// What a streamed chat answer has brought so far: its text, finish reason and usage, from its events.
struct ChatStreamReader: Sendable {
    var status = 0
    var errorBody = Data()
    var text = ""
    var finish = "unknown"
    var firstText: Date?
    var promptTokens: Int?
    var completionTokens: Int?
    private var events = ServerSentEventParser()
    private var done = false

    mutating func consume(_ bytes: [UInt8], onText: (String) -> Void) throws {
        guard status == 200 else { errorBody.append(contentsOf: bytes); return }
        for event in events.consume(bytes) where !done {
            if event == "[DONE]" { done = true; break }
            let chunk = try ChatChunk.decode(event)
            if let piece = chunk.content, !piece.isEmpty {
                if firstText == nil { firstText = Date() }
                text += piece
                onText(piece)
            }
            if let reason = chunk.finishReason { finish = reason }
            if let value = chunk.promptTokens { promptTokens = value }
            if let value = chunk.completionTokens { completionTokens = value }
        }
    }

    func reply(started: Date, finished: Date) throws -> ChatReply {
        guard status == 200 else { throw HTTPError.status(code: status, message: EngineAPI.errorMessage(errorBody)) }
        var rate: Double?
        if let firstText, let completionTokens, completionTokens > 1, finished > firstText {
            rate = Double(completionTokens - 1) / finished.timeIntervalSince(firstText)
        }
        return ChatReply(text: text, finishReason: finish, promptTokens: promptTokens, completionTokens: completionTokens,
                         timeToFirstToken: firstText.map { $0.timeIntervalSince(started) }, tokensPerSecond: rate,
                         totalSeconds: finished.timeIntervalSince(started))
    }
}
