import Foundation

/// A lock on the board that keeps two tpudeploy runs (from one machine or from two) from changing the same
/// thing on one board at once: two fix-memory runs would both stage, back up and rename the boot image; two
/// pushes into one directory would write the same partial files and manifest.
///
/// The lock is `flock` on a file in the board's /run/lock (a tmpfs, so a reboot frees it), held by a command
/// that runs in its own channel of the session and waits for its input to end. Closing the session, a crash
/// of tpudeploy, or the board's sshd dropping the connection ends that command, and the kernel frees the lock
/// with it: no stale lock file to clean up. The one case it outlives its run is a link that died silently,
/// until the board's sshd notices: a later run of this machine takes it over (StaleLockHolder), any other run
/// is told the board-side pid to end it by hand.
public struct BoardLock: Sendable, Equatable {
    /// What the lock protects, in the file name (`tpudeploy-NAME.lock`): letters, digits and dashes.
    public var name: String
    /// Who holds it, as the next run will be told: command, machine, pid and time.
    public var holder: String
    /// Where the lock file may live, first usable one wins: /run/lock is world-writable (sticky) on Ubuntu.
    public var directories: [String]

    public init(name: String, holder: String, directories: [String] = ["/run/lock", "/var/lock"]) {
        self.name = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        self.holder = holder
        self.directories = directories
    }

    /// The lock for changing the boot image (fix-memory and its rollback).
    public static func bootImage(command: String) -> BoardLock {
        BoardLock(name: "boot-image", holder: describeHolder(command))
    }

    /// The lock for one deployment directory (push): pushes into other directories go on beside it.
    public static func deploymentDirectory(_ directory: String, command: String) -> BoardLock {
        let key = normalizedPath(directory)
        return BoardLock(name: "push-" + String(Digest.hex(Digest.sha256(Array(key.utf8))).prefix(16)), holder: describeHolder(command))
    }

    /// `/data//x/./y/` and `/data/x/y` are one directory, so one lock (symbolic links on the board are not
    /// followed: two spellings through a link get two locks).
    static func normalizedPath(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// "tpudeploy push from laptop (pid 1234) since 2026-12-06T09:00:00Z".
    public static func describeHolder(_ command: String) -> String {
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let since = ISO8601DateFormatter().string(from: Date())
        return "tpudeploy \(command) from \(host) (pid \(pid)) since \(since)"
    }

    /// What the board answered.
    public enum Outcome: Sendable, Equatable {
        /// Held until the command's input ends.
        case locked
        /// Someone holds it; their own description (with the board-side pid) when they could record it.
        case busy(holder: String?)
        /// The board cannot lock (no flock, no lock directory): the run goes on unlocked, as before locks.
        case unavailable(reason: String)
    }

    /// The board-side command (`Resources/board-scripts/board-lock.sh`). It answers with one line (`@@locked`,
    /// `@@busy HOLDER`, `@@unlocked REASON`) and, when locked, waits for its input to end. The lock file and the
    /// holder files are writable by their owners only, and a holder file not owned by the user it names (or by
    /// root) is not believed: no other user can change the pid the busy message tells an admin to kill.
    public var script: String {
        get throws { try BoardScript.named("board-lock.sh").commandLine([holder, name] + directories) }
    }

    /// Reads the script's first line. Anything else (a login banner, a shell that failed) is not a lock.
    public static func outcome(firstLine line: String?) -> Outcome {
        guard let line else { return .unavailable(reason: "the lock command printed nothing") }
        if line == "@@locked" { return .locked }
        if line.hasPrefix("@@busy") {
            let holder = line.dropFirst("@@busy".count).trimmingCharacters(in: .whitespaces)
            return .busy(holder: holder.isEmpty ? nil : holder)
        }
        if line.hasPrefix("@@unlocked ") { return .unavailable(reason: String(line.dropFirst("@@unlocked ".count))) }
        return .unavailable(reason: "unexpected answer: \(line.prefix(200))")
    }
}

/// Another run holds the lock.
public struct BoardBusyError: Error, CustomStringConvertible, Sendable, Equatable {
    public var target: String
    /// What the other run is changing, for the message: "the boot image", "/data/tpudeploy/llama2-7b".
    public var what: String
    public var holder: String?

    public var description: String {
        let who = holder.map { " (\($0))" } ?? ""
        let free = holder.flatMap(Self.boardPID).map { "ssh to the board and run `kill \($0)` (with sudo if another user holds it)" }
            ?? "reboot the board"
        return "another tpudeploy run is changing \(what) on \(target)\(who). Nothing was changed. Wait for it to finish and run the command again; if that run is gone (a link that died without closing keeps the lock until the board's sshd notices), \(free) to free the lock."
    }

    /// The board-side pid the holder recorded ("...; board pid 1234").
    public static func boardPID(_ holder: String) -> Int? {
        guard let range = holder.range(of: "board pid ", options: .backwards) else { return nil }
        return Int(holder[range.upperBound...].prefix { $0.isNumber })
    }
}

/// A lock taken on the board (or found unavailable there). Released by `release()` or when its session closes.
public struct HeldBoardLock: Sendable {
    public let outcome: BoardLock.Outcome
    let session: SSHSession
    let token: Int?
    /// This process's record that it holds the lock (StaleLockHolder), dropped on release.
    var key: String? = nil

    /// Frees the lock now; safe after the session closed or the board rebooted (the lock went with them).
    public func release() async {
        if let key { StaleLockHolder.released(key) }
        guard let token else { return }
        _ = try? await session.withConnection { $0.release(token) }
    }

    /// Runs `body` holding the lock, and releases it however `body` ends.
    public func around<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            await release()
            return value
        } catch {
            await release()
            throw error
        }
    }
}

extension SSHSession {
    /// Takes `lock` on the board until released or until this session closes, or throws `BoardBusyError`
    /// naming who holds it. `.unavailable` (the board cannot lock) is returned for the caller to report.
    public func take(_ lock: BoardLock, protecting what: String) async throws -> HeldBoardLock {
        let key = StaleLockHolder.key(target: target.displayName, lock: lock.name)
        do {
            return try await takeOnce(lock, protecting: what, key: key)
        } catch let busy as BoardBusyError {
            // A run of this machine that is gone (its link died silently) cannot hold it: end its board-side
            // command, as the busy message would tell a person to, and take the lock once more.
            guard let holder = busy.holder, let pid = StaleLockHolder.boardPIDToEnd(holder: holder, key: key) else { throw busy }
            _ = try? await run("kill \(pid) 2>/dev/null; sleep 0.2", timeout: 10)
            return try await takeOnce(lock, protecting: what, key: key)
        }
    }

    private func takeOnce(_ lock: BoardLock, protecting what: String, key: String) async throws -> HeldBoardLock {
        let command = try lock.script
        let (outcome, token) = try await withConnection { connection -> (BoardLock.Outcome, Int?) in
            let running = try connection.start(command, keepInputOpen: true)
            let outcome: BoardLock.Outcome
            do {
                outcome = BoardLock.outcome(firstLine: try running.firstLine(timeout: 30))
            } catch {
                running.close()
                throw error
            }
            guard outcome == .locked else {
                running.endInputAndClose()
                return (outcome, nil)
            }
            return (outcome, connection.hold(running))
        }
        if case .busy(let holder) = outcome {
            throw BoardBusyError(target: target.displayName, what: what, holder: holder)
        }
        guard token != nil else { return HeldBoardLock(outcome: outcome, session: self, token: token) }
        StaleLockHolder.taken(key)
        return HeldBoardLock(outcome: outcome, session: self, token: token, key: key)
    }
}

extension BoardBusyError: CodedError {
    public var errorCode: String { "board_busy" }
    /// The other command ends; then this one can run.
    public var isRetryable: Bool { true }
}
