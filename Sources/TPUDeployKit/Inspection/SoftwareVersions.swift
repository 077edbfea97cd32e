/// The Sophgo software a board runs, each fact from a file any user can read (no bm-smi: on SoC it is only on a
/// login shell's PATH and only draws a curses screen).
public struct SoftwareVersions: Sendable, Codable, Equatable {
    /// libsophon's version, e.g. "0.4.9".
    public var libsophon: String?
    /// Where it came from: "dpkg sophon-soc-libsophon" or "/opt/sophon/libsophon-current".
    public var libsophonSource: String?
    /// The bmtpu driver's version (`/sys/module/bmtpu/version`), e.g. "0.4.9".
    public var driver: String?
    /// The kernel's build string (`/proc/sys/kernel/version`, what `uname -v` prints).
    public var kernelBuild: String?
    /// The day the kernel was built, from `kernelBuild`, as YYYY-MM-DD.
    public var kernelBuildDate: String?

    public init(libsophon: String? = nil, libsophonSource: String? = nil, driver: String? = nil, kernelBuild: String? = nil,
                kernelBuildDate: String? = nil) {
        self.libsophon = libsophon
        self.libsophonSource = libsophonSource
        self.driver = driver
        self.kernelBuild = kernelBuild
        self.kernelBuildDate = kernelBuildDate
    }

    /// What a missing libsophon or driver means for the user, and what to do.
    public var missingFactWarnings: [String] {
        var warnings: [String] = []
        if libsophon == nil {
            warnings.append("libsophon is not installed: no \(LibsophonPackage.names[0]) package and no /opt/sophon/libsophon-current. Install the SoC image's libsophon (sophon-soc-libsophon) before deploying models")
        }
        if driver == nil {
            warnings.append("the TPU driver's version is unknown: /sys/module/bmtpu/version is missing, so the bmtpu driver is probably not loaded (check `lsmod | grep bmtpu` and dmesg on the board); models cannot run without it")
        }
        return warnings
    }
}

/// An installed libsophon Debian package, from `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`.
/// The SoC package is `sophon-soc-libsophon` (sophgo/libsophon `CMakeLists.txt`: package name `sophon-soc` plus
/// the component `libsophon`); PCIe hosts have `sophon-libsophon`.
public struct LibsophonPackage: Sendable, Equatable {
    public static let names = ["sophon-soc-libsophon", "sophon-libsophon"]

    public var name: String
    public var version: String

    /// The first installed (`ii`) package of `names` in the query's output; nil when none is.
    public init?(dpkgQuery text: String) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3, Self.names.contains(fields[0]), fields[2].hasPrefix("ii"), !fields[1].isEmpty else { continue }
            name = fields[0]
            version = fields[1]
            return
        }
        return nil
    }

    /// "/opt/sophon/libsophon-0.4.9" → "0.4.9".
    public static func version(fromInstallPath path: String) -> String? {
        guard let last = path.split(separator: "/").last, last.hasPrefix("libsophon-"), last != "libsophon-current" else { return nil }
        return String(last.dropFirst("libsophon-".count))
    }
}

/// When a kernel was built, from its version string: `#2 SMP Sat Nov 18 10:07:36 HKT 2023` → 2023-11-18.
/// sophgo/LLM-TPU `docs/Quick_Start.md` tells SoC users to check exactly this (`uname -v`).
public struct KernelBuildDate: Sendable, Equatable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Finds "<Mon> <day> … <year>" in the string; nil when there is no such date.
    public init?(kernelVersion text: String) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard let monthIndex = words.firstIndex(where: { Self.months.contains($0) }),
              monthIndex + 1 < words.count, let day = Int(words[monthIndex + 1]), (1...31).contains(day),
              let year = words[(monthIndex + 1)...].compactMap({ $0.count == 4 ? Int($0) : nil }).first,
              let month = Self.months.firstIndex(of: words[monthIndex])
        else { return nil }
        self.init(year: year, month: month + 1, day: day)
    }

    /// "2024-01-10".
    public init?(iso text: String) {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        self.init(year: parts[0], month: parts[1], day: parts[2])
    }

    public var iso: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

/// A dotted release number ("0.4.9", "0.5.1-1" → 0.5.1) compared part by part.
public struct ReleaseNumber: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var parts: [Int]

    public init?(_ text: String) {
        let leading = text.prefix { $0.isNumber || $0 == "." }
        let parts = leading.split(separator: ".").compactMap { Int($0) }
        guard !parts.isEmpty else { return nil }
        self.parts = parts
    }

    public var description: String { parts.map(String.init).joined(separator: ".") }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        let count = max(lhs.parts.count, rhs.parts.count)
        let left = lhs.parts + Array(repeating: 0, count: count - lhs.parts.count)
        let right = rhs.parts + Array(repeating: 0, count: count - rhs.parts.count)
        return left.lexicographicallyPrecedes(right)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { !(lhs < rhs) && !(rhs < lhs) }
}

/// The SoC chip from the live device tree's root `compatible` list (NUL- or newline-separated), e.g.
/// "bitmain,bm1684x" → "BM1684X"; nil when no entry names a Bitmain/Sophgo chip (board entries such as
/// "bitmain,bm1684x-se7" are skipped).
public func chipName(deviceTreeCompatible text: String) -> String? {
    for entry in text.split(whereSeparator: { $0 == "\0" || $0 == "\n" }) {
        let parts = entry.split(separator: ",", maxSplits: 1)
        guard parts.count == 2, ["bitmain", "sophgo"].contains(parts[0]), parts[1].wholeMatch(of: /bm\d+[a-z]*/) != nil else { continue }
        return parts[1].uppercased()
    }
    return nil
}
