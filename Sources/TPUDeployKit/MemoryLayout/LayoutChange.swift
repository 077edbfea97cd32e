/// One edit of a board dtb that a `MemoryPlan` makes, exact enough to perform with `FlatDeviceTree` and to show a
/// user before anything is written.
public enum LayoutChange: Sendable, Codable, Equatable {
    /// Replaces a node's `reg` (`old` is nil when it had none).
    case setReg(path: String, old: [AddressRange]?, new: [AddressRange])
    /// Creates a node with these properties (the node must not exist).
    case addNode(path: String, contents: NodeContents)
    /// Deletes a node with its properties and children.
    case removeNode(path: String)
    /// Replaces a node's `memory-region` phandle list (`old` is nil when it had none).
    case setMemoryRegion(path: String, old: [UInt32]?, new: [UInt32])

    /// The properties of a node a plan creates, in the order they are written.
    public struct NodeContents: Sendable, Codable, Equatable {
        public var compatible: String?
        public var reg: [AddressRange]?
        public var noMap: Bool
        public var memoryRegion: [UInt32]?
        public var phandle: UInt32?
        /// `status = "disabled"`: the kernel ignores the node, but references to its phandle stay valid.
        public var disabled: Bool

        public init(
            compatible: String? = nil, reg: [AddressRange]? = nil, noMap: Bool = false, memoryRegion: [UInt32]? = nil,
            phandle: UInt32? = nil, disabled: Bool = false
        ) {
            self.compatible = compatible
            self.reg = reg
            self.noMap = noMap
            self.memoryRegion = memoryRegion
            self.phandle = phandle
            self.disabled = disabled
        }
    }

    /// The node the change touches.
    public var path: String {
        switch self {
        case .setReg(let path, _, _), .addNode(let path, _), .removeNode(let path), .setMemoryRegion(let path, _, _):
            return path
        }
    }

    /// One line for humans, e.g. `/reserved-memory/ion_npu_mem reg 0x1_24100000+3950 MiB → 0x1_24100000+7168 MiB`.
    public var summary: String {
        switch self {
        case .setReg(let path, let old, let new):
            return "\(path) reg \(old.map(AddressText.ranges) ?? "(none)") → \(AddressText.ranges(new))"
        case .addNode(let path, let contents):
            var parts: [String] = []
            if let compatible = contents.compatible { parts.append("\"\(compatible)\"") }
            if let reg = contents.reg { parts.append("reg " + AddressText.ranges(reg)) }
            if contents.noMap { parts.append("no-map") }
            if let regions = contents.memoryRegion { parts.append("memory-region " + AddressText.cells(regions)) }
            if let phandle = contents.phandle { parts.append("phandle " + HexText.number(phandle)) }
            if contents.disabled { parts.append("disabled (kept so that references to its phandle stay valid)") }
            return "add \(path)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
        case .removeNode(let path):
            return "remove \(path)"
        case .setMemoryRegion(let path, let old, let new):
            return "\(path) memory-region \(old.map(AddressText.cells) ?? "(none)") → \(AddressText.cells(new))"
        }
    }
}
