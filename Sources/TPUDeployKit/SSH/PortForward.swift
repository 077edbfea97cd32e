import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a port forward could not start.
public enum PortForwardError: Error, CustomStringConvertible, Sendable, Equatable {
    case cannotListen(port: Int, reason: String)

    public var description: String {
        switch self {
        case .cannotListen(let port, let reason):
            return "cannot listen on 127.0.0.1:\(port): \(reason). Pick another --port (0 lets the system choose)."
        }
    }
}

/// Exposes a TCP service that listens on the board's loopback on this machine's 127.0.0.1: every connection
/// accepted locally becomes an SSH `direct-tcpip` channel to `remoteHost:remotePort` as seen from the board.
///
/// A forward owns its own SSH connection, driven by one dedicated thread that `poll`s the listener, the SSH
/// socket and every accepted socket, so bytes flow as soon as they arrive (a streamed HTTP response is not
/// held back) and no other session's queue is blocked. libssh is touched from that thread only.
public final class PortForward: @unchecked Sendable {
    /// The local port actually bound (the system's choice when 0 was asked).
    public let localPort: Int
    public let remoteHost: String
    public let remotePort: Int
    public let target: SSHTarget

    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopped = false
    private var servedCount = 0
    private var refusedCount = 0
    private var endReason: String?

    private init(target: SSHTarget, listener: Int32, localPort: Int, remoteHost: String, remotePort: Int, wake: (Int32, Int32)) {
        self.target = target
        self.listener = listener
        self.localPort = localPort
        self.remoteHost = remoteHost
        self.remotePort = remotePort
        wakeRead = wake.0
        wakeWrite = wake.1
    }

    /// Connections accepted so far.
    public var connectionsServed: Int { lock.lock(); defer { lock.unlock() }; return servedCount }

    /// Connections the board refused to carry: nothing listens on `remotePort` there (or forwarding is off).
    /// Their clients see only a closed connection, so callers use this to say what happened.
    public var refusedConnections: Int { lock.lock(); defer { lock.unlock() }; return refusedCount }

    /// Why the forward ended by itself (the SSH connection was lost), if it did.
    public var failure: String? { lock.lock(); defer { lock.unlock() }; return endReason }

    /// Listens on 127.0.0.1:`localPort` (0 = any free port), connects to the board and starts forwarding.
    public static func start(
        target: SSHTarget, passwordProvider: PasswordProvider? = nil, remotePort: Int, remoteHost: String = "127.0.0.1",
        localPort: Int = 0
    ) async throws -> PortForward {
        let (listener, bound) = try listen(port: localPort)
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            close(listener)
            throw PortForwardError.cannotListen(port: localPort, reason: String(cString: strerror(errno)))
        }
        let forward = PortForward(target: target, listener: listener, localPort: bound, remoteHost: remoteHost, remotePort: remotePort,
                                  wake: (pipeEnds[0], pipeEnds[1]))
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let thread = Thread {
                let connection: SSHConnection
                do {
                    connection = try SSHConnection.open(target, passwordProvider: passwordProvider)
                } catch {
                    forward.finished.signal()
                    continuation.resume(throwing: error)
                    return
                }
                continuation.resume()
                forward.pump(connection)
                connection.close()
                forward.finished.signal()
            }
            thread.name = "tpudeploy.forward.\(target.host):\(remotePort)"
            thread.start()
        }
        return forward
    }

    /// Stops accepting, closes every forwarded connection and the SSH connection, and waits until done.
    /// Safe to call more than once.
    public func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        finished.wait()
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    deinit { stop() }

    // MARK: Listening

    private static func listen(port: Int) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PortForwardError.cannotListen(port: port, reason: String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw PortForwardError.cannotListen(port: port, reason: reason)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        setNonBlocking(fd)
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    private static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    // MARK: Pumping (the forward's own thread only)

    /// One accepted connection and its channel.
    private final class Link {
        let socket: Int32
        let channel: ssh_channel
        var toClient: [UInt8] = []
        var clientDone = false
        var channelDone = false
        var shutWrite = false
        init(socket: Int32, channel: ssh_channel) {
            self.socket = socket
            self.channel = channel
        }
    }

    private func pump(_ connection: SSHConnection) {
        let session = connection.session
        var links: [Link] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let highWater = 1 << 20

        func drop(_ link: Link) {
            close(link.socket)
            if ssh_channel_is_open(link.channel) != 0 { ssh_channel_close(link.channel) }
            ssh_channel_free(link.channel)
        }

        loop: while true {
            var fds: [pollfd] = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                                 pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                                 pollfd(fd: ssh_get_fd(session), events: Int16(POLLIN), revents: 0)]
            for link in links {
                var events: Int16 = 0
                if !link.clientDone { events |= Int16(POLLIN) }
                if !link.toClient.isEmpty { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: link.socket, events: events, revents: 0))
            }
            _ = poll(&fds, nfds_t(fds.count), 200)
            if fds[0].revents != 0 { break loop }

            if fds[1].revents & Int16(POLLIN) != 0 {
                while true {
                    let client = accept(listener, nil, nil)
                    guard client >= 0 else { break }
                    var noDelay: Int32 = 1
                    setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
                    guard let channel = ssh_channel_new(session) else { close(client); continue }
                    let opened = remoteHost.withCString { host in
                        ssh_channel_open_forward(channel, host, Int32(remotePort), "127.0.0.1", Int32(localPort))
                    }
                    guard opened == SSH_OK else {
                        // Nothing listens there on the board (or the board forbids forwarding): refuse this client.
                        // Counted before the client sees its connection close, so that its error can be explained.
                        lock.lock(); refusedCount += 1; lock.unlock()
                        ssh_channel_free(channel)
                        close(client)
                        continue
                    }
                    Self.setNonBlocking(client)
                    links.append(Link(socket: client, channel: channel))
                    lock.lock(); servedCount += 1; lock.unlock()
                }
            }

            for (index, link) in links.enumerated() {
                let revents = index + 3 < fds.count ? fds[index + 3].revents : 0
                // Client → board.
                if !link.clientDone, revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let got = buffer.withUnsafeMutableBytes { read(link.socket, $0.baseAddress!, $0.count) }
                    if got > 0 {
                        var offset = 0
                        while offset < got {
                            let sent = buffer.withUnsafeBytes { ssh_channel_write(link.channel, $0.baseAddress! + offset, UInt32(got - offset)) }
                            if sent < 0 { link.clientDone = true; link.channelDone = true; break }
                            offset += Int(sent)
                        }
                    } else if got == 0 || (errno != EAGAIN && errno != EINTR) {
                        link.clientDone = true
                        if ssh_channel_is_open(link.channel) != 0 { ssh_channel_send_eof(link.channel) }
                    }
                }
                // Board → client, bounded so a slow reader holds back the board through the SSH window.
                while !link.channelDone && link.toClient.count < highWater {
                    let got = buffer.withUnsafeMutableBytes {
                        ssh_channel_read_nonblocking(link.channel, $0.baseAddress, UInt32($0.count), 0)
                    }
                    if got > 0 {
                        link.toClient.append(contentsOf: buffer[0..<Int(got)])
                    } else {
                        if got == SSH_ERROR || ssh_channel_is_eof(link.channel) != 0 || ssh_channel_is_open(link.channel) == 0 {
                            link.channelDone = true
                        }
                        break
                    }
                }
                if !link.toClient.isEmpty {
                    let sent = link.toClient.withUnsafeBytes { send(link.socket, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                    if sent > 0 {
                        link.toClient.removeFirst(sent)
                    } else if sent < 0 && errno != EAGAIN && errno != EINTR {
                        link.toClient.removeAll()
                        link.clientDone = true
                        link.channelDone = true
                    }
                }
                if link.channelDone && link.toClient.isEmpty && !link.shutWrite {
                    shutdown(link.socket, Int32(SHUT_WR))
                    link.shutWrite = true
                }
            }
            let (finishedLinks, open) = links.reduce(into: ([Link](), [Link]())) { split, link in
                if link.clientDone && link.channelDone && link.toClient.isEmpty { split.0.append(link) } else { split.1.append(link) }
            }
            for link in finishedLinks { drop(link) }
            links = open

            // A dead link fails the socket once the stall limit has passed (`armStallLimit`); libssh notices only
            // when it next reads, which an idle forward never does.
            let socketFailed = fds[2].revents & Int16(POLLERR | POLLHUP) != 0
            if socketFailed || !connection.isConnected {
                let failure = connection.failureSeenOnSocket()
                lock.lock(); endReason = "\(failure)"; lock.unlock()
                // Keep accepting nothing: callers see `failure` and may start a new forward.
                while true {
                    var wake = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                    for link in links { drop(link) }
                    links = []
                    if poll(&wake, 1, 1000) > 0 { break loop }
                }
            }
        }
        for link in links { drop(link) }
    }
}

extension PortForwardError: CodedError {
    public var errorCode: String { "forward_cannot_listen" }
}
