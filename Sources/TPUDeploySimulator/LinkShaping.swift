import Foundation

extension Simulator {
    /// Limits the board's link to `rateMbit` megabits per second in both directions, as a 100 Mbit/s or 1 Gbit/s
    /// Ethernet port would; nil removes the limit. A token bucket (`tc` tbf) sits on each end of the board's veth
    /// pair: the host end limits what the host sends to the board, the board's `eth0` what the board sends back.
    /// The shaping lasts until the board's network is rebuilt (a power-cycle after its processes were gone).
    public func shapeLink(of name: String, rateMbit: Int?) throws {
        guard getuid() == 0 else { throw SimulatorError.notRoot }
        if let rateMbit, !(1...100_000).contains(rateMbit) {
            throw SimulatorError.invalidOptions("a link rate must be 1…100000 Mbit/s, not \(rateMbit)")
        }
        let record = try layout.record(name)
        let ends = [
            LinkEnd(namespace: nil, device: record.network.hostVeth(slot: record.slot)),
            LinkEnd(namespace: record.network.namespace(board: name), device: "eth0"),
        ]
        for end in ends {
            if let rateMbit {
                try CommandRunner.run("tc", end.arguments(["qdisc", "replace", "dev", end.device, "root"] + TokenBucket(rateMbit: rateMbit).arguments))
            } else if end.isShaped {
                try CommandRunner.run("tc", end.arguments(["qdisc", "del", "dev", end.device, "root"]))
            }
        }
    }
}

/// One end of a board's veth pair: the host end, or `eth0` inside the board's network namespace.
struct LinkEnd {
    var namespace: String?
    var device: String

    func arguments(_ rest: [String]) -> [String] {
        (namespace.map { ["-n", $0] } ?? []) + rest
    }

    /// Whether a token bucket is the root qdisc (veth's own default is `noqueue`, which cannot be deleted).
    var isShaped: Bool {
        let shown = (try? CommandRunner.run("tc", arguments(["qdisc", "show", "dev", device, "root"]))) ?? ""
        return shown.contains("qdisc tbf")
    }
}

/// The tbf parameters for a rate: a bucket of 4 ms at that rate but never less than 128 KiB (veth hands tbf
/// segmentation-offload packets of up to 64 KiB, which tbf would otherwise split), and a queue of 50 ms, as a
/// switch port's buffer would hold, beyond which packets are dropped and TCP slows down.
struct TokenBucket: Equatable {
    var rateMbit: Int

    var burstBytes: Int { max(rateMbit * 125_000 / 250, 128 << 10) }
    var latencyMilliseconds: Int { 50 }

    var arguments: [String] {
        ["tbf", "rate", "\(rateMbit)mbit", "burst", String(burstBytes), "latency", "\(latencyMilliseconds)ms"]
    }
}
