import Foundation

/// One message of an OpenAI-style conversation.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Sampling settings sent with a chat request; nil leaves the engine's default.
public struct ChatOptions: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var stop: [String] = []
    public var seed: UInt64?

    public init(temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil, stop: [String] = [], seed: UInt64? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.stop = stop
        self.seed = seed
    }
}

/// A finished answer and how fast it came, measured on this side of the forward.
public struct ChatReply: Sendable, Codable, Equatable {
    public var text: String
    public var finishReason: String
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Seconds from sending the request to the first piece of text.
    public var timeToFirstToken: Double?
    /// Generated tokens per second after the first one (needs the engine's usage numbers).
    public var tokensPerSecond: Double?
    public var totalSeconds: Double
}

/// The body of `POST /v1/chat/completions`.
enum ChatRequestBody {
    static func encode(messages: [ChatMessage], options: ChatOptions, stream: Bool, model: String?) throws -> Data {
        var object: [String: Any] = [
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
            "stream": stream,
        ]
        if stream { object["stream_options"] = ["include_usage": true] }
        if let model { object["model"] = model }
        if let value = options.temperature { object["temperature"] = value }
        if let value = options.topP { object["top_p"] = value }
        if let value = options.maxTokens { object["max_tokens"] = value }
        if !options.stop.isEmpty { object["stop"] = options.stop }
        if let value = options.seed { object["seed"] = value }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}

/// What one streamed `chat.completion.chunk` carries.
struct ChatChunk: Equatable {
    var content: String?
    var finishReason: String?
    var promptTokens: Int?
    var completionTokens: Int?

    static func decode(_ data: String) throws -> ChatChunk {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
            throw HTTPError.malformedResponse("stream event is not JSON: \(data.prefix(120))")
        }
        if let error = object["error"] as? [String: Any] {
            throw HTTPError.status(code: 500, message: error["message"] as? String ?? "unknown error")
        }
        var chunk = ChatChunk()
        if let choice = (object["choices"] as? [[String: Any]])?.first {
            chunk.content = (choice["delta"] as? [String: Any])?["content"] as? String
            chunk.finishReason = choice["finish_reason"] as? String
        }
        if let usage = object["usage"] as? [String: Any] {
            chunk.promptTokens = usage["prompt_tokens"] as? Int
            chunk.completionTokens = usage["completion_tokens"] as? Int
        }
        return chunk
    }
}
