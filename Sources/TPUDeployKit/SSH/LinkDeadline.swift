import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How long the link to the board has been silent, against the target's stall limit.
///
/// A dead link (a pulled cable, a switch that lost power) resets nothing: writes fill the send buffer and
/// reads wait, forever unless something counts. Every wait for the board restarts this clock when the board is
/// heard from and gives up once it runs past `limit`.
struct StallClock {
    let limit: Double
    private var lastHeard = Date()

    init(limitSeconds: Int) { limit = Double(limitSeconds) }

    /// The board was heard from (bytes arrived, or a write the board's window allowed went out).
    mutating func heard() { lastHeard = Date() }

    /// Seconds since the board was last heard from.
    var silence: Double { Date().timeIntervalSince(lastHeard) }

    var expired: Bool { silence >= limit }

    /// Milliseconds to wait in one libssh call: short enough to check the clock and cancellation often.
    var sliceMilliseconds: Int32 { Int32(max(50, min(1000, (limit - silence) * 1000))) }
}

extension SSHConnection {
    /// The stall limit of this connection, in seconds.
    var stallLimit: Int { target.stallTimeout }

    /// Arms the kernel's side of the stall limit on the connection's socket, for the waits libssh keeps to
    /// itself (an SFTP request's answer, a channel close, a blocked write with a full send buffer):
    /// TCP_USER_TIMEOUT fails the socket once sent data stays unacknowledged for the limit, and keepalive probes
    /// make an idle connection send something to be acknowledged, so silence is noticed there too. libssh's
    /// own blocking waits are cut to the limit as well, so that each returns in time for the caller to count.
    func armStallLimit() {
        let descriptor = ssh_get_fd(session)
        guard descriptor >= 0 else { return }
        let limit = stallLimit
        // With TCP_USER_TIMEOUT set the kernel ignores the probe count: it gives up once the limit has passed
        // with a probe unanswered. Probes start early enough for a short limit to be met.
        var on: Int32 = 1, count: Int32 = 3
        var idle = Int32(max(1, min(10, limit / 4))), interval = Int32(max(1, min(5, limit / 8)))
        var userTimeout = UInt32(limit * 1000)
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &userTimeout, socklen_t(MemoryLayout<UInt32>.size))
        var waitSeconds = min(target.connectTimeout, limit)
        ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &waitSeconds)
    }

    /// Whether libssh's last error is the kernel giving up on a silent link (the stall limit on the socket, or
    /// the network reporting the board unreachable meanwhile), rather than the board closing the connection.
    var lastErrorIsSilentLink: Bool {
        let text = lastError.lowercased()
        return ["timed out", "timeout", "no route to host", "network is unreachable", "host is down"].contains { text.contains($0) }
    }

    /// The error for a connection that failed: a stall when the link went silent (`clock`, when the caller kept
    /// one, or the kernel's verdict), else the board or the network closing it. A stall the caller's clock saw
    /// first also shuts the socket, so that nothing done on the dead session afterwards (releasing a board lock,
    /// closing channels) waits on it again.
    func linkFailure(_ clock: StallClock? = nil) -> SSHError {
        if let clock, clock.expired {
            let descriptor = ssh_get_fd(session)
            if descriptor >= 0 { shutdown(descriptor, Int32(SHUT_RDWR)) }
            return .linkStalled(target: target.displayName, seconds: Int(clock.silence.rounded()))
        }
        if !isConnected && lastErrorIsSilentLink { return .linkStalled(target: target.displayName, seconds: stallLimit) }
        return .connectionLost(target: target.displayName, reason: lastError)
    }

    /// Why the connection ended, for a caller that polls the socket itself (a port forward): the kernel may have
    /// failed the socket (the stall limit) before libssh has read from it and noticed.
    func failureSeenOnSocket() -> SSHError {
        if !isConnected { return linkFailure() }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let descriptor = ssh_get_fd(session)
        if descriptor >= 0, getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length) == 0,
           [ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN].contains(code) {
            return .linkStalled(target: target.displayName, seconds: stallLimit)
        }
        return .connectionLost(target: target.displayName, reason: code != 0 ? String(cString: strerror(code)) : "the board closed the connection")
    }

    /// Repeats a libssh call that answers SSH_AGAIN when its wait ran out (opening a channel, a channel request)
    /// until it settles or the link has been silent for the stall limit.
    func untilSettled(_ clock: inout StallClock, _ call: () -> Int32) throws -> Int32 {
        while true {
            let rc = call()
            guard rc == SSH_AGAIN else { return rc }
            if clock.expired || !isConnected { throw linkFailure(clock) }
        }
    }
}
