/// A running simulated board and everything needed to reach it over SSH.
public struct SimulatedBoard: Sendable, Codable, Equatable {
    /// The board's name, also its hostname: `evb1`.
    public var name: String
    /// The board's IPv4 address on the simulator's bridge.
    public var host: String
    /// The board's SSH port.
    public var port: Int = 22
    /// The client private key authorised for root and linaro on every board of this state directory.
    public var identityFile: String
    /// An OpenSSH known_hosts file holding the host key of every board of this state directory.
    public var knownHostsFile: String
    /// The password of the `linaro` user (vendor default).
    public var linaroPassword: String
    /// The board's host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:…`.
    public var hostKeyFingerprint: String
    /// The board's host-side state directory.
    public var stateDirectory: String
    /// The DDR size of the dtb the board boots.
    public var ram: SimulatedRAM
    /// File name (without `.dtb`) of the dtb the board boots.
    public var dtbName: String
}

/// Whether a simulated board is booting, serving SSH, refusing to boot or off.
public enum BoardPowerState: Sendable, Equatable, CustomStringConvertible {
    /// Checking its boot image or waiting out the boot delay; SSH does not answer.
    case booting
    /// Booted; sshd answers.
    case up
    /// The boot image failed the check (the reason says how); SSH will not answer until it is fixed.
    case bricked(String)
    /// Powered off, or its processes are gone.
    case down

    /// The state's one-word name, as `sim list` prints it and its JSON `state` holds.
    public var name: String {
        switch self {
        case .booting: return "booting"
        case .up: return "up"
        case .bricked: return "bricked"
        case .down: return "down"
        }
    }

    /// Why the board is bricked; nil in every other state.
    public var reason: String? {
        if case .bricked(let reason) = self { return reason }
        return nil
    }

    /// The state named `name` (`reason` is used only for `bricked`); nil for a name that is no state.
    public init?(name: String, reason: String?) {
        switch name {
        case "booting": self = .booting
        case "up": self = .up
        case "bricked": self = .bricked(reason ?? "")
        case "down": self = .down
        default: return nil
        }
    }

    public var description: String {
        reason.map { "\(name): \($0)" } ?? name
    }
}

/// A board of `Simulator.list()` with its power state.
///
/// In JSON (`sim list --json`): `board` (as `sim up --json` prints it), `state` (`booting`, `up`, `bricked` or
/// `down`) and, for a bricked board only, `reason`.
public struct SimulatedBoardStatus: Sendable, Codable, Equatable {
    /// The board.
    public var board: SimulatedBoard
    /// Its power state when listed.
    public var state: BoardPowerState

    public init(board: SimulatedBoard, state: BoardPowerState) {
        self.board = board
        self.state = state
    }

    private enum CodingKeys: String, CodingKey { case board, state, reason }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        board = try container.decode(SimulatedBoard.self, forKey: .board)
        let name = try container.decode(String.self, forKey: .state)
        guard let state = BoardPowerState(name: name, reason: try container.decodeIfPresent(String.self, forKey: .reason)) else {
            throw DecodingError.dataCorruptedError(
                forKey: .state, in: container, debugDescription: "\(name) is not one of booting, up, bricked, down")
        }
        self.state = state
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(board, forKey: .board)
        try container.encode(state.name, forKey: .state)
        try container.encodeIfPresent(state.reason, forKey: .reason)
    }
}
