/// The human form of a `BoardReport`: a summary, a heap table (configured vs live), then warnings and the
/// diagnosis.
public enum BoardReportText {
    public static func render(_ report: BoardReport) -> String {
        func value(_ text: String?) -> String { text ?? "unknown" }
        func bytes(_ count: UInt64?) -> String { count.map(ByteCount.human) ?? "-" }
        func hex(_ value: UInt64?) -> String { value.map(MemoryLayoutText.address) ?? "-" }

        var facts: [(String, String)] = [
            ("board", "\(report.target)  \(value(report.hostname))"),
            ("os", "\(value(report.os)), kernel \(value(report.kernel)), \(value(report.arch))"),
            ("libsophon", versionsLine(report)),
            ("dtb in use", value(report.dtb) + (report.board.map { "  (profile \($0))" } ?? "")),
        ]
        if let ddr = report.ddr {
            let banks = ddr.banks.map { "\($0.name) \(ByteCount.human($0.sizeBytes))" }.joined(separator: ", ")
            facts.append(("DDR", "\(ByteCount.human(ddr.totalBytes)) in \(ddr.banks.count) banks: \(banks)"))
        }
        facts.append(("Linux memory", "MemTotal \(bytes(report.linux.memTotalBytes)), available \(bytes(report.linux.memAvailableBytes)); layout leaves \(bytes(report.linux.configuredBytes))"))
        if let memory = report.deviceMemory {
            let sum = memory.heaps.map { $0.uppercased() }.joined(separator: " + ")
            facts.append(("device memory", "\(ByteCount.human(memory.usedBytes)) used of \(ByteCount.human(memory.totalBytes)) (\(sum) heaps; bm-smi's figure)"))
        }
        if let data = report.dataFilesystem {
            facts.append(("/data free", "\(ByteCount.human(data.availableBytes)) of \(ByteCount.human(data.totalBytes))"))
        }
        facts.append(("engine", report.engine.running ? "running (pid \(report.engine.pids.map(String.init).joined(separator: ", ")))" : "not running"))
        let width = facts.map(\.0.count).max() ?? 0
        var lines = facts.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }

        lines.append("")
        var table = TextTable(header: ["heap", "configured start", "configured size", "live size", "in use", ""])
        for heap in report.heaps {
            let differs = heap.configuredBytes != heap.liveBytes && report.rebootPending != nil
            table.rows.append([
                heap.name, hex(heap.configuredStart), heap.configuredStart == nil && report.ddr != nil ? "absent" : bytes(heap.configuredBytes),
                heap.liveBytes == nil && report.rebootPending != nil ? "absent" : bytes(heap.liveBytes),
                inUse(heap),
                differs ? "reboot pending" : "",
            ])
        }
        lines.append(table.render())
        if report.rebootPending == true {
            lines.append("")
            lines.append("The layout in /boot differs from the running one: reboot the board to apply it.")
        }
        if let diagnosis = report.diagnosis {
            lines.append("")
            lines.append("\(diagnosis.verdict == .fits ? "ok" : "diagnosis"): \(diagnosis.message)")
        }
        for warning in report.warnings {
            lines.append("warning: \(warning)")
        }
        return lines.joined(separator: "\n")
    }

    /// "0.4.9 (dpkg sophon-soc-libsophon), driver 0.4.9, kernel built 2023-11-18".
    private static func versionsLine(_ report: BoardReport) -> String {
        let versions = report.versions
        var text = versions.libsophon.map { "\($0) (\(versions.libsophonSource ?? "?"))" } ?? "unknown"
        text += ", driver \(versions.driver ?? "unknown"), kernel built \(versions.kernelBuildDate ?? "unknown")"
        switch report.llmRuntimeCheck.verdict {
        case .met: text += ": new enough for LLM-TPU bmodels"
        case .outdated: text += ": too old for LLM-TPU bmodels (see warning)"
        case .unknown: break
        }
        return text
    }

    /// "1.2 GiB (31%)" of a heap's live size, "-" when unknown.
    private static func inUse(_ heap: HeapStatus) -> String {
        guard let used = heap.liveUsedBytes, let total = heap.liveBytes, total > 0 else { return "-" }
        return "\(ByteCount.human(used)) (\(used * 100 / total)%)"
    }
}
