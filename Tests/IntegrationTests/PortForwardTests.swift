import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for tests: connect, send everything, read until the peer closes.
enum TestTCP {
    static func connect(host: String, port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); return nil }
        return fd
    }

    /// Sends `bytes` (then half-closes) and returns everything the peer sends back until it closes.
    static func exchange(port: Int, _ bytes: [UInt8]) -> [UInt8]? {
        guard let fd = connect(host: "127.0.0.1", port: port) else { return nil }
        // The writer is done with `fd` before it is closed: a send or shutdown after the close could hit a
        // descriptor another test had opened under the same number in the meantime.
        let written = DispatchSemaphore(value: 0)
        defer {
            if written.wait(timeout: .now() + 10) == .timedOut {
                shutdown(fd, Int32(SHUT_RDWR))
                written.wait()
            }
            close(fd)
        }
        let writer = Thread {
            defer { written.signal() }
            var offset = 0
            while offset < bytes.count {
                let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
                offset += sent
            }
            shutdown(fd, Int32(SHUT_WR))
        }
        writer.start()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if got <= 0 { break }
            received.append(contentsOf: buffer[0..<got])
        }
        return received
    }
}

/// An echo server (perl, forking per connection) bound to the board's 127.0.0.1 only.
private func startEchoServer(_ board: SimulatedBoard, port: Int) throws {
    let perl = #"use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => PORT, Listen => 16, ReuseAddr => 1) or die; $SIG{CHLD} = "IGNORE"; while (my $c = $s->accept) { if (!fork) { while (1) { my $n = sysread($c, my $b, 65536); last if !$n; my $o = 0; while ($o < $n) { $o += syswrite($c, $b, $n - $o, $o); } } exit 0; } close $c; }"#
        .replacingOccurrences(of: "PORT", with: String(port))
    try SimulatedBoardHarness.openSSH(board, "setsid perl -e \(shellQuoted(perl)) </dev/null >/dev/null 2>&1 &")
}

@Suite("port forwarding to simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct PortForwardIntegrationTests {
    @Test func bytesRoundTripAndTheServiceStaysPrivateToTheBoard() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            try startEchoServer(board, port: 9123)
            try SimulatedBoardHarness.openSSH(board, "mkdir -p /data/www && head -c 300000 /dev/urandom > /data/www/blob")
            try SimulatedBoardHarness.openSSH(board, "setsid python3 -m http.server 9124 --bind 127.0.0.1 --directory /data/www </dev/null >/dev/null 2>&1 &")

            let echo = try await PortForward.start(target: SimulatedBoardHarness.rootTarget(board), remotePort: 9123)
            defer { echo.stop() }
            #expect(echo.localPort > 0)
            let message = PushPayload.random(2 << 20)
            var back: [UInt8]? = []
            for _ in 0..<50 {  // until the server on the board is up
                back = TestTCP.exchange(port: echo.localPort, message)
                if back?.isEmpty == false { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            #expect(back == message)
            // Several connections at once share the forward.
            let results = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<4 {
                    group.addTask {
                        let bytes = Array(repeating: UInt8(index), count: 100_000 + index)
                        return TestTCP.exchange(port: echo.localPort, bytes) == bytes
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results == [true, true, true, true])
            #expect(echo.connectionsServed >= 5)

            // HTTP through the forward: the same bytes as on the board.
            let http = try await PortForward.start(target: SimulatedBoardHarness.rootTarget(board), remotePort: 9124)
            defer { http.stop() }
            var response: [UInt8] = []
            for _ in 0..<50 {
                response = TestTCP.exchange(port: http.localPort, Array("GET /blob HTTP/1.0\r\nHost: board\r\n\r\n".utf8)) ?? []
                if !response.isEmpty { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            let text = String(decoding: response.prefix(200), as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.0 200"))
            let separator = Array("\r\n\r\n".utf8)
            let bodyStart = (0..<max(0, response.count - 3)).first { Array(response[$0..<($0 + 4)]) == separator }.map { $0 + 4 }
            let body = bodyStart.map { Array(response[$0...]) } ?? []
            let onBoard = try SimulatedBoardHarness.openSSH(board, "sha256sum /data/www/blob | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(Digest.hex(Digest.sha256(body)) == onBoard)

            // From outside the board the services are not reachable: they listen on its 127.0.0.1 only.
            #expect(TestTCP.connect(host: board.host, port: 9123) == nil)
            #expect(TestTCP.connect(host: board.host, port: 9124) == nil)

            // A port with nothing behind it on the board: the local client is closed, the forward keeps working.
            let nothing = try await PortForward.start(target: SimulatedBoardHarness.rootTarget(board), remotePort: 9999)
            #expect(TestTCP.exchange(port: nothing.localPort, Array("hi".utf8)) == [])
            nothing.stop()
            #expect(TestTCP.connect(host: "127.0.0.1", port: nothing.localPort) == nil)
            #expect(TestTCP.exchange(port: echo.localPort, Array("still".utf8)) == Array("still".utf8))
        }
    }
}
