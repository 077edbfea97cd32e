import Foundation

extension Simulator {
    /// Limits what the host sends to all of this simulator's boards together to `rateMbit` megabits per second,
    /// as the host's own 100 Mbit/s or 1 Gbit/s port would; nil removes the limit.
    ///
    /// The token bucket sits on the bridge device, where the host's own packets to the boards leave its stack.
    /// Frames one board sends another are forwarded from port to port by the bridge and never pass that queue,
    /// as on a switch: the host's uplink limits the host, not the boards' traffic among themselves (each board's
    /// own link still does, see `shapeLink`). Only the host's sending is shaped; what it receives is not (a fleet
    /// rollout's bottleneck is what the host sends).
    public func shapeHostLink(rateMbit: Int?) throws {
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        if let rateMbit, !(1...100_000).contains(rateMbit) {
            throw SimulatorError.invalidOptions("a link rate must be 1…100000 Mbit/s, not \(rateMbit)")
        }
        let end = LinkEnd(namespace: nil, device: try runningNetwork().bridge)
        if let rateMbit {
            try CommandRunner.run("tc", ["qdisc", "replace", "dev", end.device, "root"] + TokenBucket(rateMbit: rateMbit).arguments)
        } else if end.isShaped {
            try CommandRunner.run("tc", ["qdisc", "del", "dev", end.device, "root"])
        }
    }

    /// Bytes the host has sent onto the boards' network since its bridge was made (every header included):
    /// the host's side of a transfer, whatever the boards then send each other.
    public func hostSentBytes() throws -> UInt64 {
        let file = "/sys/class/net/\(try runningNetwork().bridge)/statistics/tx_bytes"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        guard let bytes = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw SimulatorError.stateFile(path: file, problem: "not a byte count: \(text)")
        }
        return bytes
    }

    /// The network of this state directory's boards; there is none before the first `up`.
    private func runningNetwork() throws -> SimNetwork {
        guard let network = SimNetwork.existing(in: layout) else {
            throw SimulatorError.invalidOptions("no simulated boards run in \(stateDirectory.path): start some with `up` first")
        }
        return network
    }
}
