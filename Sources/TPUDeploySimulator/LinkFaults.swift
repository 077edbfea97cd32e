import Foundation

extension Simulator {
    /// Cuts every SSH connection to the board at once, as a pulled cable or a crashed switch would, while the
    /// board itself stays up: the per-connection sshd processes (children of the board's sshd listener) are
    /// killed; the listener keeps accepting new connections.
    /// Returns how many connections were cut.
    @discardableResult
    public func dropConnections(of name: String) throws -> Int {
        let record = try layout.record(name)
        let filesystem = BoardFilesystem(directory: record.board.stateDirectory.fileURL)
        let boardInit = BoardInit(filesystem: filesystem, namespace: record.network.namespace(board: name))
        guard let initPID = boardInit.hostPID() else { throw SimulatorError.unknownBoard(name: name, stateDirectory: stateDirectory.path) }
        let parents = Self.parentsOfAllProcesses()
        let listeners = parents.filter { $0.value == initPID && Self.command(of: $0.key) == "sshd" }.map(\.key)
        var cut = 0
        for (pid, parent) in parents where listeners.contains(parent) {
            if kill(pid, SIGKILL) == 0 { cut += 1 }
        }
        return cut
    }

    /// Every process's parent, from /proc/PID/stat.
    private static func parentsOfAllProcesses() -> [pid_t: pid_t] {
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { parents[pid] = parent }
        }
        return parents
    }

    private static func command(of pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
