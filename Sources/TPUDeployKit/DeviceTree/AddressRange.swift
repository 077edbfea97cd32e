/// One `<address size>` pair of a `reg` property, decoded with the parent bus's `#address-cells`/`#size-cells`.
public struct AddressRange: Codable, Sendable, Equatable, Hashable {
    public var start: UInt64
    public var size: UInt64

    public init(start: UInt64, size: UInt64) {
        self.start = start
        self.size = size
    }

    /// The first address past the range (saturating, so a range at the top of the address space does not trap).
    public var end: UInt64 {
        let (sum, overflow) = start.addingReportingOverflow(size)
        return overflow ? .max : sum
    }
}
