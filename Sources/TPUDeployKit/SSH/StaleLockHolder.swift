import Foundation

/// Tells a board lock left behind by a run of this machine that is gone from one another run still holds.
///
/// A link that died silently leaves the board's sshd holding the lock's command until it notices, which on a
/// board with sshd's defaults can take hours. The holder record names the machine and its pid: when that is
/// this machine and the pid is not running any more — or is this very process, which no longer holds that lock
/// (its session was lost) — nobody can be holding it, and the run may end the board-side command and go on.
enum StaleLockHolder {
    /// Locks this process holds now, by board and lock name.
    private static let held = HeldLockKeys()

    static func key(target: String, lock: String) -> String { target + "\u{0}" + lock }
    static func taken(_ key: String) { held.insert(key) }
    static func released(_ key: String) { held.remove(key) }

    /// The board-side pid to end when `holder` (a record from `BoardLock.describeHolder`) is a run of this
    /// machine that is gone; nil when someone may still hold the lock.
    static func boardPIDToEnd(holder: String, key: String) -> Int? {
        guard let boardPID = BoardBusyError.boardPID(holder),
              let (host, pid) = machineAndPID(holder), host == ProcessInfo.processInfo.hostName else { return nil }
        if pid == ProcessInfo.processInfo.processIdentifier { return held.contains(key) ? nil : boardPID }
        // kill(pid, 0) fails with ESRCH only when no such process exists.
        return kill(pid_t(pid), 0) != 0 && errno == ESRCH ? boardPID : nil
    }

    /// "tpudeploy push from HOST (pid 1234) since …" → (HOST, 1234).
    static func machineAndPID(_ holder: String) -> (String, Int)? {
        guard let from = holder.range(of: " from "), let open = holder.range(of: " (pid ", range: from.upperBound..<holder.endIndex)
        else { return nil }
        let host = String(holder[from.upperBound..<open.lowerBound])
        guard let pid = Int(holder[open.upperBound...].prefix { $0.isNumber }) else { return nil }
        return (host, pid)
    }
}

/// A set shared by every task of the process.
private final class HeldLockKeys: @unchecked Sendable {
    private let lock = NSLock()
    private var keys = Set<String>()

    func insert(_ key: String) { lock.lock(); keys.insert(key); lock.unlock() }
    func remove(_ key: String) { lock.lock(); keys.remove(key); lock.unlock() }
    func contains(_ key: String) -> Bool { lock.lock(); defer { lock.unlock() }; return keys.contains(key) }
}
