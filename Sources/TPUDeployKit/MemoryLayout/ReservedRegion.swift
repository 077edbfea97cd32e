/// A child of the dtb's `/reserved-memory`: memory Linux does not manage as ordinary RAM (unless `reusable`).
public struct ReservedRegion: Codable, Sendable, Equatable {
    /// The node name, e.g. `ion_npu_mem` or `linux,cma`.
    public var name: String
    /// The start address from `reg`; nil for regions that only ask for a `size` (the kernel places them).
    public var start: UInt64?
    public var size: UInt64
    /// `no-map`: not even mapped by Linux.
    public var noMap: Bool
    /// `reusable`: Linux may use the memory while the owner does not (CMA), so it still counts as Linux memory.
    public var reusable: Bool
    /// The `compatible` strings, e.g. `["npu-region"]`.
    public var compatible: [String]
    public var phandle: UInt32?

    public init(
        name: String, start: UInt64?, size: UInt64, noMap: Bool = false, reusable: Bool = false,
        compatible: [String] = [], phandle: UInt32? = nil
    ) {
        self.name = name
        self.start = start
        self.size = size
        self.noMap = noMap
        self.reusable = reusable
        self.compatible = compatible
        self.phandle = phandle
    }

    public var end: UInt64? { start.map { AddressRange(start: $0, size: size).end } }
}
