/// The live ion heaps as the kernel's debugfs shows them (root only): for each heap the directory
/// `/sys/kernel/debug/ion/bm_<name>_heap_dump` with `total_mem` and `alloc_mem` (each `%llu\n`) and `summary`.
///
/// Format from sophgo/linux-arm64 `drivers/soc/bitmain/ion/bitmain/bitmain_ion_debugfs.c` (the files) and
/// `bitmain_ion.c` (heap names `npu`, `vpp`, `vpu`; ids in device-tree order).
public enum LiveHeapReading: Sendable, Equatable {
    case heaps([String: LiveHeap])
    /// debugfs or the ion directory is missing on this board.
    case unavailable
    /// Not root, and sudo needs a password we were not given.
    case needsPassword

    /// Parses what `BoardProbe.ionHeapsScript` prints: per heap `npu total=N used=M` (`used=?` when `alloc_mem`
    /// could not be read, then possibly a `npu summary=[0] npu heap size:…` line) or `vpu absent`; or a single
    /// status word.
    public init(section text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed == "unavailable" { self = .unavailable; return }
        if trimmed == "needs-password" { self = .needsPassword; return }
        var heaps: [String: LiveHeap] = [:]
        var seen: Set<String> = []
        for line in trimmed.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard fields.count == 2, LiveHeap.names.contains(fields[0]) else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "unexpected line", output: String(line))
            }
            let name = fields[0], rest = fields[1]
            if rest == "absent" {
                seen.insert(name)
            } else if rest.hasPrefix("summary=") {
                guard var heap = heaps[name] else {
                    throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "a summary before its heap's sizes", output: String(line))
                }
                let summary = try IonHeapSummary(line: String(rest.dropFirst("summary=".count)))
                if heap.usedBytes == nil { heap.usedBytes = summary.usedBytes }
                heaps[name] = heap
            } else {
                heaps[name] = try LiveHeap(name: name, fields: rest, line: String(line))
                seen.insert(name)
            }
        }
        guard seen == LiveHeap.names else {
            throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "expected npu, vpu and vpp lines", output: text)
        }
        self = .heaps(heaps)
    }
}

/// One live ion heap: its size and what is allocated in it.
public struct LiveHeap: Sendable, Equatable {
    static let names: Set<String> = ["npu", "vpu", "vpp"]

    public var totalBytes: UInt64
    /// nil when neither `alloc_mem` nor `summary` could be read.
    public var usedBytes: UInt64?

    public init(totalBytes: UInt64, usedBytes: UInt64?) {
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
    }

    /// `total=4141875200 used=0` (`used=?`: unknown).
    init(name: String, fields: String, line: String) throws {
        var values: [String: String] = [:]
        for field in fields.split(separator: " ") {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion", problem: "unexpected field \(field)", output: line)
            }
            values[pair[0]] = pair[1]
        }
        guard let total = values["total"].flatMap(UInt64.init) else {
            throw BoardOutputError(source: "/sys/kernel/debug/ion/bm_\(name)_heap_dump/total_mem", problem: "heap size is not a number", output: line)
        }
        var used: UInt64?
        if let text = values["used"], text != "?" {
            guard let bytes = UInt64(text) else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion/bm_\(name)_heap_dump/alloc_mem", problem: "bytes in use is not a number", output: line)
            }
            guard bytes <= total else {
                throw BoardOutputError(source: "/sys/kernel/debug/ion/bm_\(name)_heap_dump/alloc_mem", problem: "more bytes in use than the heap holds", output: line)
            }
            used = bytes
        }
        self.init(totalBytes: total, usedBytes: used)
    }
}

/// The heap line of an ion debugfs `summary`:
/// `[0] npu heap size:4141875200 bytes, used:0 bytes<TAB>usage rate:0%, memory usage peak 0 bytes`.
public struct IonHeapSummary: Sendable, Equatable {
    public var heapID: Int
    public var name: String
    public var sizeBytes: UInt64
    public var usedBytes: UInt64
    public var peakBytes: UInt64?

    public init(line: String) throws {
        guard let match = line.firstMatch(of: /^\[(\d+)\]\s+(\w+) heap size:(\d+) bytes, used:(\d+) bytes/),
              let id = Int(match.1), let size = UInt64(match.3), let used = UInt64(match.4)
        else {
            throw BoardOutputError(source: "an ion heap summary", problem: "no '[id] NAME heap size:N bytes, used:M bytes' line", output: line)
        }
        heapID = id
        name = String(match.2)
        sizeBytes = size
        usedBytes = used
        peakBytes = line.firstMatch(of: /memory usage peak (\d+) bytes/).flatMap { UInt64($0.1) }
    }

    /// The heap line of a whole `summary` file (the one starting with `[`).
    public init(summary text: String) throws {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("[") }) else {
            throw BoardOutputError(source: "an ion heap summary", problem: "no heap line", output: text)
        }
        try self.init(line: String(line))
    }
}
