import Foundation

/// The one shell script `inspect` runs on a board, and the parser of what it prints.
///
/// Everything the report needs from the board's shell comes back from one exec channel, so an inspection
/// costs one round trip for the facts plus a few SFTP reads of the boot image. The script is POSIX sh,
/// prints each fact after a `@@tpudeploy:NAME` marker, and never fails as a whole: a missing tool shows up
/// as that section's content.
public enum BoardProbe {
    /// Reads the live heaps from the ion driver's debugfs (root only): per heap its size (`total_mem`) and what
    /// is allocated in it (`alloc_mem`; the heap line of `summary` when a kernel has no `alloc_mem`).
    static let ionHeapsScript = """
        d=/sys/kernel/debug/ion; \
        if [ ! -d "$d" ]; then echo unavailable; exit 0; fi; \
        for h in npu vpu vpp; do f="$d/bm_${h}_heap_dump"; \
        if [ ! -r "$f/total_mem" ]; then echo "$h absent"; continue; fi; \
        t=$(tr -d "\\000" < "$f/total_mem"); u=$(tr -d "\\000" < "$f/alloc_mem" 2>/dev/null); \
        printf "%s total=%s used=%s\\n" "$h" "$t" "${u:-?}"; \
        if [ -z "$u" ] && [ -r "$f/summary" ]; then grep -m 1 "^\\[" "$f/summary" | sed "s/^/$h summary=/"; fi; done
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
        m kernel-build; cat /proc/sys/kernel/version 2>/dev/null || uname -v
        m libsophon-package; dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' \(LibsophonPackage.names.joined(separator: " ")) 2>/dev/null; true
        m libsophon; readlink -f /opt/sophon/libsophon-current 2>/dev/null
        m driver; cat /sys/module/bmtpu/version 2>/dev/null
        m dtb; { cat /sys/firmware/devicetree/base/info/file-name 2>/dev/null || cat /proc/device-tree/info/file-name 2>/dev/null; } | tr -d '\\000'
        m compatible; { cat /sys/firmware/devicetree/base/compatible 2>/dev/null || cat /proc/device-tree/compatible 2>/dev/null; } | tr '\\000' '\\n'
        m meminfo; cat /proc/meminfo
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
