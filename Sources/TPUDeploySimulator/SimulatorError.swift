import Foundation

/// Everything that can go wrong while starting, stopping or driving simulated boards; each text says what
/// happened and what to do about it.
public enum SimulatorError: Error, CustomStringConvertible, Equatable {
    /// The process is not root; namespaces, bridges and mounts need it.
    case notRoot
    /// A host tool the simulator is built from is not installed.
    case missingTool(String)
    /// A host command failed; carries the command line and the tool's own message.
    case commandFailed(command: String, message: String)
    /// No board of that name in this state directory.
    case unknownBoard(name: String, stateDirectory: String)
    /// The board did not come up within the time allowed.
    case bootTimedOut(name: String, seconds: Double, lastState: String, bootLog: String)
    /// The board refused its boot image and stays down, like a real board that does not come back.
    case bricked(name: String, reason: String)
    /// The options asked for something the simulator cannot build.
    case invalidOptions(String)
    /// A state file of the simulator could not be read or written.
    case stateFile(path: String, problem: String)
    /// No free network for the simulator's bridge in 198.18.0.0/15.
    case noFreeNetwork

    public var description: String {
        switch self {
        case .notRoot:
            return "the simulator needs root (network and mount namespaces): run as root or with sudo"
        case .missingTool(let tool):
            return "\(tool) not found: run `make setup` (it installs the Debian packages the simulator uses)"
        case .commandFailed(let command, let message):
            return "`\(command)` failed: \(message.isEmpty ? "no message" : message)"
        case .unknownBoard(let name, let directory):
            return "no simulated board named \(name) in \(directory): see `tpudeploy sim list`"
        case .bootTimedOut(let name, let seconds, let lastState, let bootLog):
            let tail = bootLog.isEmpty ? "" : "; end of its boot.log:\n\(bootLog)"
            return "simulated board \(name) did not come up within \(Int(seconds)) s (state: \(lastState))\(tail)"
        case .bricked(let name, let reason):
            return "simulated board \(name) did not boot: \(reason). Put a valid /boot/emmcboot.itb back "
                + "(host side, in its state directory) and power-cycle it, or recreate it with `tpudeploy sim down` and `sim up`"
        case .invalidOptions(let problem):
            return "invalid simulator options: \(problem)"
        case .stateFile(let path, let problem):
            return "simulator state file \(path): \(problem); if the state is damaged, run `tpudeploy sim down` and start again"
        case .noFreeNetwork:
            return "no free /24 network in 198.18.0.0/15 for the simulator's bridge: stop simulators you no longer need (`tpudeploy sim down`)"
        }
    }
}
