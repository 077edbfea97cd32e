import Foundation

/// The status line and headers of an HTTP/1.1 response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]   // lower-cased names

    public var isChunked: Bool { headers["transfer-encoding"]?.lowercased().contains("chunked") == true }
    public var contentLength: Int? { headers["content-length"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
}

/// Incremental HTTP/1.1 response parser: bytes go in as they arrive, the head and then body bytes (chunked
/// transfer coding removed) come out. Pure, so it is tested on byte sequences cut at every position.
public struct HTTPResponseParser: Sendable {
    private enum State: Sendable {
        case head
        case body(remaining: Int?)          // nil: until the connection closes
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd                   // the CRLF after a chunk's data
        case trailers
        case done
    }

    private var buffer: [UInt8] = []
    private var state = State.head
    public private(set) var head: HTTPResponseHead?

    public init() {}

    /// True when the whole body has been seen (for bodies delimited by the connection, only after `finish`).
    public var isComplete: Bool { if case .done = state { return true } else { return false } }

    private var headHandedOn = false

    /// Feeds bytes and hands on what they complete: the head once, when it first is whole, then body bytes.
    /// Both ways to the engine (an SSH channel, a local socket) read responses through this.
    public mutating func feed(_ bytes: some Sequence<UInt8>, onHead: (HTTPResponseHead) throws -> Void,
                              onBody: ([UInt8]) throws -> Void) throws {
        let body = try consume(bytes)
        if !headHandedOn, let head {
            headHandedOn = true
            try onHead(head)
        }
        if !body.isEmpty { try onBody(body) }
    }

    /// Feeds bytes; returns the body bytes they complete.
    public mutating func consume(_ bytes: some Sequence<UInt8>) throws -> [UInt8] {
        buffer.append(contentsOf: bytes)
        var body: [UInt8] = []
        while true {
            switch state {
            case .head:
                guard let end = find([13, 10, 13, 10]) else {
                    if buffer.count > 65536 { throw HTTPError.malformedResponse("response head longer than 64 KiB") }
                    return body
                }
                let text = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                let parsed = try Self.parseHead(text)
                head = parsed
                if parsed.isChunked {
                    state = .chunkSize
                } else if let length = parsed.contentLength {
                    state = length == 0 ? .done : .body(remaining: length)
                } else if parsed.status == 204 || parsed.status == 304 {
                    state = .done
                } else {
                    state = .body(remaining: nil)
                }
            case .body(let remaining):
                guard !buffer.isEmpty else { return body }
                let take = remaining.map { min($0, buffer.count) } ?? buffer.count
                body.append(contentsOf: buffer[..<take])
                buffer.removeFirst(take)
                if let remaining {
                    state = remaining - take == 0 ? .done : .body(remaining: remaining - take)
                }
            case .chunkSize:
                guard let end = find([13, 10]) else { return body }
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                let sizeText = line.split(separator: ";", maxSplits: 1).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else {
                    throw HTTPError.malformedResponse("bad chunk size \"\(line)\"")
                }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard !buffer.isEmpty else { return body }
                let take = min(remaining, buffer.count)
                body.append(contentsOf: buffer[..<take])
                buffer.removeFirst(take)
                state = remaining - take == 0 ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                guard buffer.count >= 2 else { return body }
                guard buffer[0] == 13, buffer[1] == 10 else { throw HTTPError.malformedResponse("chunk not followed by CRLF") }
                buffer.removeFirst(2)
                state = .chunkSize
            case .trailers:
                guard let end = find([13, 10]) else { return body }
                buffer.removeFirst(end + 2)
                if end == 0 { state = .done }
            case .done:
                return body
            }
        }
    }

    /// The connection closed: fine for a body delimited by the close, an error anywhere else.
    public mutating func finish() throws {
        switch state {
        case .done: return
        case .body(remaining: nil): state = .done
        case .head: throw HTTPError.malformedResponse(head == nil && buffer.isEmpty ? "connection closed without an answer" : "connection closed inside the response head")
        default: throw HTTPError.malformedResponse("connection closed before the end of the body")
        }
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for index in 0...(buffer.count - pattern.count) where buffer[index] == pattern[0] {
            if Array(buffer[index..<(index + pattern.count)]) == pattern { return index }
        }
        return nil
    }

    static func parseHead(_ text: String) throws -> HTTPResponseHead {
        let lines = text.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw HTTPError.malformedResponse("bad status line \"\(lines[0].prefix(80))\"")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPError.malformedResponse("bad header line \"\(line.prefix(80))\"") }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        return HTTPResponseHead(status: status, headers: headers)
    }
}
