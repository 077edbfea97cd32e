/// One DDR bank from the dtb's `/memory` `reg`. On BM1684X the high address cell names the bank.
public struct DDRBank: Codable, Sendable, Equatable {
    /// The high 32 bits of the start address: 0x1 DDR0, 0x2 DDR1, 0x3 DDR2, 0x4 DDR3.
    public var id: UInt64
    public var start: UInt64
    public var size: UInt64

    public init(start: UInt64, size: UInt64) {
        self.id = start >> 32
        self.start = start
        self.size = size
    }

    /// `DDR0`…`DDR3` for BM1684X banks 0x1…0x4, else `bank 0x…`.
    public var name: String { (1...4).contains(id) ? "DDR\(id - 1)" : "bank \(HexText.number(id))" }

    public var end: UInt64 { AddressRange(start: start, size: size).end }
}
