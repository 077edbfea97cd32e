import Foundation

/// Where a simulator keeps its boards: one directory per state directory, holding the client key pair,
/// the known_hosts file, the network record and one directory per board.
struct StateLayout: Sendable {
    let root: URL

    var boardsDirectory: URL { root.appendingPathComponent("boards") }
    var clientKey: URL { root.appendingPathComponent("client/id_ed25519") }
    var knownHosts: URL { root.appendingPathComponent("known_hosts") }
    var networkFile: URL { root.appendingPathComponent("network.json") }
    var imagesDirectory: URL { root.appendingPathComponent("images") }
    var lockFile: URL { root.appendingPathComponent(".lock") }

    func boardDirectory(_ name: String) -> URL { boardsDirectory.appendingPathComponent(name) }
    func recordFile(_ name: String) -> URL { boardDirectory(name).appendingPathComponent("board.json") }

    /// The names of the boards of this state directory (a directory each, recorded or half-built), sorted.
    func boardNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: boardsDirectory.path)) ?? []).sorted()
    }

    /// Every board recorded in this state directory, by name.
    func records() throws -> [BoardRecord] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: boardsDirectory.path) else { return [] }
        return try names.sorted().compactMap { name in
            guard FileManager.default.fileExists(atPath: recordFile(name).path) else { return nil }
            return try record(name)
        }
    }

    /// The record of board `name`; throws `unknownBoard` when there is none.
    func record(_ name: String) throws -> BoardRecord {
        let file = recordFile(name)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw SimulatorError.unknownBoard(name: name, stateDirectory: root.path)
        }
        do {
            return try JSONDecoder().decode(BoardRecord.self, from: Data(contentsOf: file))
        } catch {
            throw SimulatorError.stateFile(path: file.path, problem: "\(error)")
        }
    }

    /// Runs `body` holding an exclusive lock on this state directory, so that two `sim` commands never build
    /// or tear down the same boards at once.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let descriptor = open(lockFile.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SimulatorError.stateFile(path: lockFile.path, problem: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else {
            throw SimulatorError.stateFile(path: lockFile.path, problem: String(cString: strerror(errno)))
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}

/// What the simulator remembers about one board, in `boards/<name>/board.json`.
struct BoardRecord: Sendable, Codable {
    var board: SimulatedBoard
    /// The board's number on the bridge: its address is `.(10 + slot)`.
    var slot: Int
    var network: SimNetwork
    var bootDelay: Double
    var bootPartitionMiB: Int
}
