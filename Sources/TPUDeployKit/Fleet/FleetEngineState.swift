import Foundation

/// Whether a board's deployment serves, as `fleet inspect` sees it: the engine started from the deployment's
/// directory and what its `/health` says.
public struct FleetEngineState: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// `/health` says ready: the engine serves.
        case ready
        case loading
        /// `/health` says failed (`health.reason` says why).
        case failed
        /// The engine runs but `/health` did not answer within 5 s.
        case noAnswer = "no_answer"
        /// The engine runs; the board has neither curl nor wget to ask its `/health` with.
        case running
        /// No engine runs from the deployment's directory.
        case stopped
    }

    public var state: State
    public var pid: Int?
    /// The port on the engine's command line (it listens on the board's 127.0.0.1).
    public var port: Int?
    public var secondsRunning: Int?
    /// The engine was started before the deployment's files last changed: it serves what it loaded then.
    public var startedBeforeFilesChanged: Bool?
    public var health: EngineHealth?

    public init(state: State, pid: Int? = nil, port: Int? = nil, secondsRunning: Int? = nil,
                startedBeforeFilesChanged: Bool? = nil, health: EngineHealth? = nil) {
        self.state = state
        self.pid = pid
        self.port = port
        self.secondsRunning = secondsRunning
        self.startedBeforeFilesChanged = startedBeforeFilesChanged
        self.health = health
    }

    /// The table's word for it.
    public var label: String {
        let word = state == .noAnswer ? "no answer" : state.rawValue
        return startedBeforeFilesChanged == true ? "\(word) (old files)" : word
    }
}

/// The output of `fleet-engine-state.sh`: a deployment directory's manifest and the engines serving from it.
public struct FleetDeploymentProbe: Equatable, Sendable {
    public var manifest = BoardManifest()
    /// The engine that best tells whether the deployment serves (a ready one first), or `.stopped`.
    public var engine = FleetEngineState(state: .stopped)

    public init(_ text: String) {
        let parts = text.components(separatedBy: "@@manifest\n")
        var now: Int?
        var manifestChanged: Int?
        var engines: [FleetEngineState] = []
        var bodies: [Int: String] = [:]
        for line in parts[0].split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            switch fields.first {
            case "@@now": now = fields.count > 1 ? Int(fields[1]) : nil
            case "@@manifest_mtime": manifestChanged = fields.count > 1 ? Int(fields[1]) : nil
            case "@@engine":
                let values = fields.dropFirst().joined(separator: " ").split(separator: " ").map(String.init)
                guard let pid = values.first.flatMap({ Int($0) }) else { continue }
                engines.append(FleetEngineState(
                    state: .running, pid: pid, port: values.count > 2 ? Int(values[2]) : nil,
                    secondsRunning: values.count > 1 ? Int(values[1]) : nil))
            case "@@health":
                if fields.count > 1, let pid = Int(fields[1]) { bodies[pid] = fields.count > 2 ? fields[2] : "" }
            default: break
            }
        }
        if parts.count > 1 { manifest = BoardManifest(text: parts[1]) }
        engines = engines.map { found in
            var engine = found
            if let now, let changed = manifestChanged, let seconds = engine.secondsRunning {
                engine.startedBeforeFilesChanged = now - seconds < changed
            }
            switch bodies[engine.pid ?? -1] {
            case nil, "no_client": engine.state = .running
            case let body?:
                if let health = try? EngineHealth.decode(Data(body.utf8)) {
                    engine.health = health
                    engine.state = switch health.status { case .ready: .ready; case .loading: .loading; case .failed: .failed }
                } else {
                    engine.state = .noAnswer
                }
            }
            return engine
        }
        let rank: [FleetEngineState.State] = [.ready, .loading, .failed, .running, .noAnswer]
        if let best = engines.min(by: { (rank.firstIndex(of: $0.state) ?? 9) < (rank.firstIndex(of: $1.state) ?? 9) }) {
            engine = best
        }
    }
}
