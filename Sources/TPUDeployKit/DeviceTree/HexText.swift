/// Hex spellings used in messages: `0x1f` for numbers, `a4d2…` for digests.
enum HexText {
    static func number<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

    static func bytes(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }
}
