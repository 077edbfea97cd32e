import Foundation

/// The one shell script `inspect` runs on a board, and the parser of what it prints.
///
/// Everything the report needs from the board's shell comes back from one exec channel, so an inspection
/// costs one round trip for the facts plus a few SFTP reads of the boot image. The script is POSIX sh,
/// prints each fact after a `@@tpudeploy:NAME` marker, and never fails as a whole: a missing tool shows up
/// as that section's content.
public enum BoardProbe {
    /// Reads the live heap sizes from debugfs; needs root.
    static let ionHeapsScript = """
        d=/sys/kernel/debug/ion; \
        if [ ! -d "$d" ]; then echo unavailable; exit 0; fi; \
        for h in npu vpu vpp; do f="$d/bm_${h}_heap_dump/total_mem"; \
        if [ -r "$f" ]; then printf "%s %s\\n" "$h" "$(tr -d "\\000" < "$f")"; else echo "$h absent"; fi; done
        """

    public static let enginePattern = "tpu-llm-engine"

    /// The script, with `dataPath` as the file system whose free space matters for models.
    public static func script(dataPath: String = "/data") -> String {
        """
        export LC_ALL=C
        ION=\(shellQuoted(ionHeapsScript))
        m() { printf '\\n@@tpudeploy:%s\\n' "$1"; }
        m id; id -u
        m hostname; hostname
        m uname; uname -r; uname -m
        m os-release; cat /etc/os-release 2>/dev/null
        m libsophon; readlink -f /opt/sophon/libsophon-current 2>/dev/null
        m dtb; { cat /sys/firmware/devicetree/base/info/file-name 2>/dev/null || cat /proc/device-tree/info/file-name 2>/dev/null; } | tr -d '\\000'
        m meminfo; cat /proc/meminfo
        m bm-smi; if command -v bm-smi >/dev/null 2>&1; then timeout 10 bm-smi --text_format 2>&1; echo "@@status:$?"; else echo "@@missing"; fi
        m data; df -Pk \(shellQuoted(dataPath)) 2>&1
        m boot; if [ -r /boot/emmcboot.itb ]; then echo readable; elif [ -e /boot/emmcboot.itb ] || [ ! -x /boot ]; then echo unreadable; else echo missing; fi
        m engine; pgrep -x \(enginePattern) 2>/dev/null; true
        m ion; if [ "$(id -u)" = 0 ]; then sh -c "$ION"; elif sudo -n true 2>/dev/null; then sudo -n sh -c "$ION"; else echo needs-password; fi
        m end
        """
    }

    /// Splits the script's output into its sections.
    public static func sections(of output: String) throws -> [String: String] {
        var sections: [String: String] = [:]
        var current: String?
        var lines: [Substring] = []
        func finish() {
            if let current { sections[current] = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines) }
            lines = []
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@tpudeploy:") {
                finish()
                current = String(line.dropFirst("@@tpudeploy:".count))
            } else {
                lines.append(line)
            }
        }
        finish()
        guard sections["end"] != nil, sections["id"] != nil else {
            throw BoardOutputError(source: "the inspection script", problem: "its output ended early", output: output)
        }
        return sections
    }
}

/// Live heap sizes as the ion driver reports them (`/sys/kernel/debug/ion/bm_*_heap_dump/total_mem`).
public enum LiveHeapReading: Sendable, Equatable {
    case sizes([String: UInt64])
    /// debugfs or the ion directory is missing on this board.
    case unavailable
    /// Not root, and sudo needs a password we were not given.
    case needsPassword

    /// Parses the ion section: `npu 4141875200` / `vpu absent` lines, or a single status word.
    public init(section text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed == "unavailable" { self = .unavailable; return }
        if trimmed == "needs-password" { self = .needsPassword; return }
        var sizes: [String: UInt64] = [:]
        var seen = 0
        for line in trimmed.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, ["npu", "vpu", "vpp"].contains(fields[0]) else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "unexpected line", output: String(line))
            }
            seen += 1
            if fields[1] == "absent" { continue }
            guard let bytes = UInt64(fields[1]) else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "heap size is not a number", output: String(line))
            }
            sizes[String(fields[0])] = bytes
        }
        guard seen == 3 else {
            throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "expected npu, vpu and vpp lines", output: text)
        }
        self = .sizes(sizes)
    }
}
