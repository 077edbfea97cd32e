import Foundation

extension Simulator {
    /// Cuts the board's cable without telling either end, as a cable pulled out of a switch port would: the host
    /// end of the board's veth pair goes down, so every packet between host and board vanishes while both
    /// kernels keep their connections open. Nothing resets; a client only ever sees silence (its writes fill the
    /// send buffer, its reads wait), which only a deadline of its own ends. `restoreLink` plugs the cable back.
    public func cutLink(of name: String) throws {
        try setLink(of: name, up: false)
    }

    /// Plugs the board's cable back in after `cutLink`; connections that outlived the cut carry on.
    public func restoreLink(of name: String) throws {
        try setLink(of: name, up: true)
    }

    /// Whether the board's cable is plugged in (the host end of its veth pair is up).
    public func linkIsUp(of name: String) throws -> Bool {
        let record = try layout.record(name)
        let shown = try CommandRunner.run("ip", ["-o", "link", "show", "dev", record.network.hostVeth(slot: record.slot)])
        // The flags list, e.g. <BROADCAST,MULTICAST,UP,LOWER_UP>, names UP when the device was set up.
        return shown.split(separator: ">").first?.split(separator: "<").last?.split(separator: ",").contains("UP") ?? false
    }

    private func setLink(of name: String, up: Bool) throws {
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        let record = try layout.record(name)
        try CommandRunner.run("ip", ["link", "set", "dev", record.network.hostVeth(slot: record.slot), up ? "up" : "down"])
        // Connection attempts during the cut leave the host's neighbour entry for the board FAILED, and the kernel
        // answers "No route to host" from it for a while after the cable is back; a re-plugged cable on a real
        // switch is found again at once, so the entry is forgotten with the cut.
        if up { _ = try? CommandRunner.run("ip", ["neigh", "flush", "to", record.board.host]) }
    }

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
