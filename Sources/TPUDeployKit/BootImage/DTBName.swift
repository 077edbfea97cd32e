/// How dtb names are compared: the same board dtb is spelt several ways by the vendor's own tools.
///
/// - `/proc/device-tree/info/file-name` ends in `.dtb` since sophgo/linux-arm64 v23.07.01 (2023-08), but in `.dts`
///   before it (and `bm1684x_sm7m_v1.2.dts` still today); Sophgo's `memory_edit.sh` accepts both.
/// - U-Boot's board table (sophgo/bootloader-arm64 `u-boot/board/bitmain/bm1684/board.c`) names the SE7 v2.0 dtb
///   `bm1684x_se7_v2_0.dtb` where the kernel's dts says `bm1684x_se7_v2.0.dtb`.
///
/// So two names are the same dtb when they agree once the `.dtb`/`.dts` ending is dropped and dots count as
/// underscores. No two vendor dtbs differ only in that way.
public enum DTBName {
    /// `bm1684x_sm7m_v1.2.dts` → `bm1684x_sm7m_v1.2`; a name with neither ending is returned as it is.
    public static func baseName(_ name: String) -> String {
        for ending in [".dtb", ".dts"] where name.hasSuffix(ending) { return String(name.dropLast(ending.count)) }
        return name
    }

    /// The form names are compared in: `bm1684x_se7_v2.0.dtb` and `bm1684x_se7_v2_0` both give `bm1684x_se7_v2_0`.
    public static func key(_ name: String) -> String {
        baseName(name).replacingOccurrences(of: ".", with: "_")
    }

    /// Whether `a` and `b` name the same dtb.
    public static func same(_ a: String, _ b: String) -> Bool { key(a) == key(b) }
}
