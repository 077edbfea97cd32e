import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 exchange over a TCP connection to a local port (the near end of `tpudeploy forward`, or an
/// engine run on this machine). Blocking, with a timeout on every wait, so it runs on a worker thread; `cancel()`
/// from any thread ends a streaming read.
public final class HTTPConnection: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()
    private var cancelled = false
    public let host: String
    public let port: Int

    public init(host: String = "127.0.0.1", port: Int, connectTimeout: Double = 10) throws {
        self.host = host
        self.port = port
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw HTTPError.connect(host: host, port: port, reason: "not an IPv4 address")
        }
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketDescriptor >= 0 else { throw HTTPError.connect(host: host, port: port, reason: String(cString: strerror(errno))) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            // Closed here and thrown before `descriptor` is set: an initialiser that throws once every stored
            // property is set still runs deinit, which would close this number a second time.
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw HTTPError.connect(host: host, port: port, reason: reason)
        }
        descriptor = socketDescriptor
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(descriptor) }

    public func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    private var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// Sends one request; `Connection: close` so the body may also end with the connection.
    public func send(method: String, path: String, headers: [String: String] = [:], body: Data? = nil) throws {
        try sendAll(HTTPExchange.request(method: method, path: path, host: "\(host):\(port)", headers: headers, body: body))
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw isCancelled ? HTTPError.cancelled : HTTPError.io(String(cString: strerror(errno)))
                }
                offset += written
            }
        }
    }

    /// What arrives within `seconds`: empty when nothing did, nil once the peer closed (blocking).
    func readSome(waitingAtMost seconds: Double) throws -> [UInt8]? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(max(1, seconds * 1000)))
        if isCancelled { throw HTTPError.cancelled }
        if ready < 0 {
            if errno == EINTR { return [] }
            throw HTTPError.io(String(cString: strerror(errno)))
        }
        if ready == 0 { return [] }
        var chunk = [UInt8](repeating: 0, count: 16384)
        let count = recv(descriptor, &chunk, chunk.count, 0)
        if count < 0 {
            if errno == EINTR { return [] }
            throw isCancelled ? HTTPError.cancelled : HTTPError.io(String(cString: strerror(errno)))
        }
        if count == 0 {
            if isCancelled { throw HTTPError.cancelled }
            return nil
        }
        return Array(chunk[..<count])
    }

    /// Reads the response, handing body bytes to `onBody` as they arrive; returns the head. `timeout` bounds
    /// every wait for more bytes, not the whole exchange (a long answer keeps streaming).
    @discardableResult
    public func receive(timeout: Double, onHead: (HTTPResponseHead) throws -> Void = { _ in },
                        onBody: ([UInt8]) throws -> Void) throws -> HTTPResponseHead {
        var parser = HTTPResponseParser()
        var chunk = [UInt8](repeating: 0, count: 16384)
        while !parser.isComplete {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(timeout * 1000))
            if isCancelled { throw HTTPError.cancelled }
            if ready < 0 {
                if errno == EINTR { continue }
                throw HTTPError.io(String(cString: strerror(errno)))
            }
            if ready == 0 { throw HTTPError.timedOut(seconds: timeout) }
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count < 0 {
                if errno == EINTR { continue }
                throw isCancelled ? HTTPError.cancelled : HTTPError.io(String(cString: strerror(errno)))
            }
            if count == 0 {
                if isCancelled { throw HTTPError.cancelled }
                try parser.finish()
                break
            }
            try parser.feed(chunk[..<count], onHead: onHead, onBody: onBody)
        }
        guard let head = parser.head else { throw HTTPError.malformedResponse("no response head") }
        return head
    }

    /// A whole request and response, body collected.
    public static func exchange(port: Int, method: String, path: String, headers: [String: String] = [:],
                                body: Data? = nil, timeout: Double = 30) throws -> (head: HTTPResponseHead, body: Data) {
        let connection = try HTTPConnection(port: port, connectTimeout: timeout)
        try connection.send(method: method, path: path, headers: headers, body: body)
        var collected = Data()
        let head = try connection.receive(timeout: timeout) { collected.append(contentsOf: $0) }
        return (head, collected)
    }
}

/// A local socket as the engine's connection: each blocking wait on a thread of its own, off the cooperative pool.
extension HTTPConnection: HTTPByteStream {
    public func write(_ bytes: [UInt8]) async throws {
        try await DedicatedThread.run("tpudeploy.http-write") { try self.sendAll(bytes) }
    }

    public func read(waitingAtMost seconds: Double) async throws -> [UInt8]? {
        try await DedicatedThread.run("tpudeploy.http-read") { try self.readSome(waitingAtMost: seconds) }
    }
}
