import Foundation

/// The private network of one simulator state directory: a host bridge `tpdsimN` holding `198.18.x.1/24`
/// (inside the RFC 2544 benchmarking range 198.18.0.0/15) and one network namespace per board, joined to the
/// bridge by a veth pair whose board end is `eth0` at `198.18.x.(10 + slot)`. Nothing outside these is touched.
struct SimNetwork: Sendable, Codable, Equatable {
    /// Which of the 512 /24 networks of 198.18.0.0/15 this is; 0 is tried first for the default state directory.
    var index: Int

    var bridge: String { "tpdsim\(index)" }
    var networkPrefix: String { "198.\(18 + index / 256).\(index % 256)" }
    var hostAddress: String { "\(networkPrefix).1" }
    func boardAddress(slot: Int) -> String { "\(networkPrefix).\(10 + slot)" }
    func namespace(board: String) -> String { "tpdsim\(index)-\(board)" }
    /// Host end of a board's veth pair; at most 13 characters (interface names stop at 15).
    func hostVeth(slot: Int) -> String { "tpdsim\(index)h\(slot)" }

    static let maximumSlot = 240

    /// The network recorded for `layout`, if it has one whose bridge still exists.
    static func existing(in layout: StateLayout) -> SimNetwork? {
        guard let data = try? Data(contentsOf: layout.networkFile),
              let network = try? JSONDecoder().decode(SimNetwork.self, from: data),
              CommandRunner.succeeds("ip", ["link", "show", "dev", network.bridge])
        else { return nil }
        return network
    }

    /// Creates the bridge of a network no other simulator uses and records it in the state directory.
    /// Creating the bridge is the claim: `ip link add` fails when another simulator got there first.
    static func create(in layout: StateLayout, isDefaultStateDirectory: Bool) throws -> SimNetwork {
        let start = isDefaultStateDirectory ? 0 : 1 + Int(stableHash(layout.root.standardizedFileURL.path) % 511)
        let addresses = (try? CommandRunner.run("ip", ["-o", "-4", "addr", "show"])) ?? ""
        for offset in 0..<512 {
            let candidate = SimNetwork(index: (start + offset) % 512)
            if addresses.contains(" \(candidate.networkPrefix).") { continue }
            guard CommandRunner.succeeds("ip", ["link", "add", candidate.bridge, "type", "bridge"]) else { continue }
            do {
                try CommandRunner.run("ip", ["addr", "add", "\(candidate.hostAddress)/24", "dev", candidate.bridge])
                try CommandRunner.run("ip", ["link", "set", candidate.bridge, "up"])
                try JSONEncoder().encode(candidate).write(to: layout.networkFile, options: .atomic)
            } catch {
                candidate.removeBridge()
                throw error
            }
            return candidate
        }
        throw SimulatorError.noFreeNetwork
    }

    /// Deletes the bridge and forgets the network.
    func removeBridge(layout: StateLayout? = nil) {
        if CommandRunner.succeeds("ip", ["link", "show", "dev", bridge]) {
            _ = try? CommandRunner.capture("ip", ["link", "del", bridge])
        }
        if let layout { try? FileManager.default.removeItem(at: layout.networkFile) }
    }

    /// Creates a board's network namespace with `eth0` on the bridge and `lo` up.
    func attach(board: String, slot: Int) throws {
        let namespace = namespace(board: board), veth = hostVeth(slot: slot)
        detach(board: board, slot: slot)
        try CommandRunner.run("ip", ["netns", "add", namespace])
        try CommandRunner.run("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace])
        try CommandRunner.run("ip", ["-n", namespace, "addr", "add", "\(boardAddress(slot: slot))/24", "dev", "eth0"])
        try CommandRunner.run("ip", ["-n", namespace, "link", "set", "lo", "up"])
        try CommandRunner.run("ip", ["-n", namespace, "link", "set", "eth0", "up"])
        try CommandRunner.run("ip", ["link", "set", veth, "master", bridge])
        try CommandRunner.run("ip", ["link", "set", veth, "up"])
    }

    /// Removes a board's namespace and veth pair; does nothing for parts already gone.
    func detach(board: String, slot: Int) {
        let namespace = namespace(board: board), veth = hostVeth(slot: slot)
        if (try? CommandRunner.run("ip", ["netns", "list"]))?.split(separator: "\n").contains(where: { $0.split(separator: " ").first.map(String.init) == namespace }) == true {
            _ = try? CommandRunner.capture("ip", ["netns", "del", namespace])
        }
        if CommandRunner.succeeds("ip", ["link", "show", "dev", veth]) {
            _ = try? CommandRunner.capture("ip", ["link", "del", veth])
        }
    }

    /// FNV-1a: the same number for the same path in every process (Swift's `hashValue` is seeded per process).
    static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
