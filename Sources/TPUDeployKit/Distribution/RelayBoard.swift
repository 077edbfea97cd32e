import Foundation

/// One board of a distribution, as the caller gives it: its name (for events and results), the SSH session
/// already open to it, and the deployment directory the files land in (where `tpudeploy push` puts them).
public struct DistributionBoard: Sendable {
    public var name: String
    public var session: SSHSession
    public var remoteDir: String

    public init(name: String, session: SSHSession, remoteDir: String) {
        self.name = name
        self.session = session
        self.remoteDir = remoteDir
    }
}

/// A board whose agent runs: its lock, its channel, and what it reported. Used by one task at a time (the
/// distribution's phases run one after another).
final class RelayBoard: @unchecked Sendable {
    let board: DistributionBoard
    let scripts: PushScripts
    let channel: RelayAgentChannel
    var lock: HeldBoardLock?
    var manifest: BoardManifest
    var alreadyThere: [String]
    var address = ""
    var port = 0
    /// Lines read while waiting for something else, handled by the next phase.
    var backlog: [String] = []
    var outcome: DistributionOutcome?
    var bytesFromHost: UInt64 = 0
    var sources: [String: [String]] = [:]
    let started = Date()

    init(board: DistributionBoard, scripts: PushScripts, lock: HeldBoardLock?, manifest: BoardManifest, alreadyThere: [String]) {
        self.board = board
        self.scripts = scripts
        self.channel = RelayAgentChannel(session: board.session)
        self.lock = lock
        self.manifest = manifest
        self.alreadyThere = alreadyThere
    }

    var name: String { board.name }
    var endpoint: String { "\(address):\(port)" }

    /// Steps the channel until `stop` says a line is the one awaited (lines before it stay in `backlog`), the
    /// output ends, or `seconds` pass. Returns the awaited line.
    func await(seconds: Double, until stop: (RelayAgentLine) -> Bool) async throws -> RelayAgentLine? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let (lines, ended, _) = try await channel.step()
            for (index, line) in lines.enumerated() {
                let parsed = RelayAgentLine(line)
                if stop(parsed) {
                    backlog += lines[(index + 1)...]
                    return parsed
                }
                backlog.append(line)
            }
            if ended { return nil }
            if lines.isEmpty { try? await Task.sleep(nanoseconds: 50_000_000) }
        }
        return nil
    }

    /// What the agent printed that was no report of its own (for an error message).
    var strayOutput: String {
        let stray = backlog.filter { if case .other = RelayAgentLine($0) { return true }; if case .error = RelayAgentLine($0) { return true }; return false }
        let errors = String(decoding: channel.errorOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (stray + (errors.isEmpty ? [] : [errors])).joined(separator: "; ")
    }
}
