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
public enum BoardPowerState: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Checking its boot image or waiting out the boot delay; SSH does not answer.
    case booting
    /// Booted; sshd answers.
    case up
    /// The boot image failed the check (the reason says how); SSH will not answer until it is fixed.
    case bricked(String)
    /// Powered off, or its processes are gone.
    case down

    public var description: String {
        switch self {
        case .booting: return "booting"
        case .up: return "up"
        case .bricked(let reason): return "bricked: \(reason)"
        case .down: return "down"
        }
    }
}

/// A board of `Simulator.list()` with its power state.
public struct SimulatedBoardStatus: Sendable, Codable, Equatable {
    /// The board.
    public var board: SimulatedBoard
    /// Its power state when listed.
    public var state: BoardPowerState
}
