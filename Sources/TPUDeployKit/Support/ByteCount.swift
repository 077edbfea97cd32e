/// Formats byte counts the way memory tools print them (binary units).
public enum ByteCount {
    public static let mebibyte: UInt64 = 1 << 20
    public static let gibibyte: UInt64 = 1 << 30

    /// "3.86 GiB", "512 MiB", "4 KiB".
    public static func human(_ bytes: UInt64) -> String {
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (name, size) in units where bytes >= size {
            let value = Double(bytes) / Double(size)
            if value == value.rounded() { return "\(Int(value)) \(name)" }
            return String(format: "%.2f", value) + " " + name
        }
        return "\(bytes) B"
    }

    /// Whole mebibytes, rounded down: the unit heap sizes are requested in.
    public static func mebibytes(_ bytes: UInt64) -> UInt64 { bytes / mebibyte }
}
