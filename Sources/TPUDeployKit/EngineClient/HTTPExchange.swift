import Foundation

/// A connection that carries one HTTP exchange with the engine: a direct-tcpip channel on the board's SSH
/// session (`SSHTunnel`), or a TCP socket to a port on this machine (`HTTPConnection`).
public protocol HTTPByteStream: Sendable {
    func write(_ bytes: [UInt8]) async throws
    /// The bytes that arrive within `seconds`: empty when none came yet, nil once the far end has closed.
    func read(waitingAtMost seconds: Double) async throws -> [UInt8]?
}

extension SSHTunnel: HTTPByteStream {}

/// Lets a caller stop an exchange from another thread (Ctrl-C in `chat` stops the answer, not the program): the
/// exchange notices within a quarter second and throws `HTTPError.cancelled`.
public final class HTTPCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public func cancel() { lock.withLock { cancelled = true } }
    public var isCancelled: Bool { lock.withLock { cancelled } }
}

/// One HTTP/1.1 request and its response over an `HTTPByteStream`, body bytes handed on as they arrive (a
/// streamed answer is not held back). `timeout` bounds every wait for more bytes, not the whole exchange.
enum HTTPExchange {
    /// The request's bytes; `Connection: close`, so a body may also end with the connection.
    static func request(method: String, path: String, host: String, headers: [String: String], body: Data?) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if let body { bytes.append(contentsOf: body) }
        return bytes
    }

    /// The response to a request already sent on `stream` (`request(…)`'s bytes).
    @discardableResult
    static func receive(on stream: any HTTPByteStream, timeout: Double, cancellation: HTTPCancellation? = nil,
                        onHead: (HTTPResponseHead) throws -> Void = { _ in },
                        onBody: ([UInt8]) throws -> Void) async throws -> HTTPResponseHead {
        var parser = HTTPResponseParser()
        var lastHeard = Date()
        while !parser.isComplete {
            if cancellation?.isCancelled == true { throw HTTPError.cancelled }
            let waited = Date().timeIntervalSince(lastHeard)
            if waited >= timeout { throw HTTPError.timedOut(seconds: timeout) }
            guard let bytes = try await stream.read(waitingAtMost: min(0.25, timeout - waited)) else {
                if cancellation?.isCancelled == true { throw HTTPError.cancelled }
                try parser.finish()
                break
            }
            guard !bytes.isEmpty else { continue }
            // Nothing more is handed on once cancelled, even what had already arrived.
            if cancellation?.isCancelled == true { throw HTTPError.cancelled }
            lastHeard = Date()
            try parser.feed(bytes, onHead: onHead, onBody: onBody)
        }
        guard let head = parser.head else { throw HTTPError.malformedResponse("no response head") }
        return head
    }
}
