/// Tables for the fleet commands: one row a board.
public enum FleetText {
    /// `fleet inspect`'s table and a summary line.
    public static func inspection(_ summary: FleetSummary) -> String {
        func mib(_ bytes: UInt64?) -> String { bytes.map { String(ByteCount.mebibytes($0)) } ?? "?" }
        func gib(_ bytes: UInt64?) -> String { bytes.map { "\(($0 + ByteCount.gibibyte / 2) / ByteCount.gibibyte)G" } ?? "?" }
        let rows = summary.boards.map { board -> [String] in
            guard let facts = board.facts else {
                return [board.name, board.host, board.outcome.rawValue, "", "", "", "", "", "", "", "", board.error.map { "\($0.code): \($0.message)" } ?? ""]
            }
            func heap(_ name: String) -> String {
                guard let heap = facts.heaps.first(where: { $0.name == name }) else { return "?" }
                let live = mib(heap.liveBytes)
                let configured = mib(heap.configuredBytes)
                return live == configured ? live : "\(live)/\(configured)"
            }
            var notes: [String] = []
            if facts.rebootPending == true { notes.append("reboot pending") }
            if facts.warnings > 0 { notes.append("\(facts.warnings) warning\(facts.warnings == 1 ? "" : "s")") }
            // The deployment's own engine when a deployment is named; else whether any engine process runs.
            let engine = facts.deployed?.engine
            if let reason = engine?.health?.reason, engine?.state != .ready { notes.append("engine: \(reason)") }
            if engine?.state == .stopped, facts.engineRunning { notes.append("an engine of another directory runs") }
            return [board.name, board.host, board.outcome.rawValue, facts.board ?? "?", facts.dtb ?? "?", gib(facts.ddrBytes),
                    heap("npu"), heap("vpu"), heap("vpp"), facts.deployed.map { $0.bmodel ?? "(none)" } ?? "-",
                    engine?.label ?? (facts.engineRunning ? "running" : "stopped"), notes.joined(separator: ", ")]
        }
        let table = TextTable(header: ["BOARD", "HOST", "STATE", "PROFILE", "DTB", "DDR", "NPU MiB", "VPU MiB", "VPP MiB", "BMODEL", "ENGINE", "NOTES"], rows: rows)
        let counts = summary.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return table.render() + "\n\(summary.boards.count) boards: \(counts) in \(summary.seconds) s (heaps: live, or live/configured when a reboot is pending)"
    }

    /// A rollout plan: one row a board, in the order the rollout takes them.
    public static func plan(_ plan: RolloutPlan) -> String {
        var rows: [[String]] = []
        for batch in plan.batches {
            let label = batch.isCanary ? "canary" : "batch \(batch.number)" + (batch.size.map { " (\($0))" } ?? "")
            for (index, board) in batch.boards.enumerated() {
                rows.append([index == 0 ? label : "", board.name, board.target.displayName, board.boardProfile ?? "(from its dtb)", board.deployment ?? "-"])
            }
        }
        let table = TextTable(header: ["BATCH", "BOARD", "TARGET", "PROFILE", "DEPLOYMENT"], rows: rows)
        let budget = plan.failureBudget.map { "at most \($0.allowedFailures) failed board\($0.allowedFailures == 1 ? "" : "s") (--max-fail \($0.percent == $0.percent.rounded() ? String(Int($0.percent)) : String($0.percent))%)" }
            ?? "no failure budget (a failed canary still stops the run)"
        let batchCount = plan.batches.filter { !$0.isCanary }.count
        return table.render() + "\n\(plan.boardCount) boards in \(plan.batches.count) step\(plan.batches.count == 1 ? "" : "s") (\(plan.batches.first?.isCanary == true ? "a canary, then " : "")\(batchCount) batch\(batchCount == 1 ? "" : "es")), \(plan.parallel) at once, \(budget)"
    }
}

extension FleetText {
    /// `fleet rollout`'s final table: board, outcome, the phase it ended in, seconds, and the error's one line
    /// (or what was done), then the counts.
    public static func rollout(_ summary: FleetSummary) -> String {
        let rows = summary.boards.map { board -> [String] in
            let note = board.error.map { "\($0.code): \($0.message)" } ?? board.detail ?? ""
            let phase = board.outcome == .ok || board.outcome == .skipped || board.outcome == .notStarted ? "" : board.phase.rawValue
            return [board.name, board.host, board.outcome.rawValue, phase, String(format: "%.1f", board.seconds), note]
        }
        let table = TextTable(header: ["BOARD", "HOST", "OUTCOME", "FAILED IN", "SECONDS", "NOTES"], rows: rows)
        let counts = summary.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let stopped: String
        switch summary.stoppedBy {
        case "failure_budget": stopped = "; aborted: the failure budget was exceeded"
        case "canary_failed": stopped = "; aborted: the canary failed"
        case "declined": stopped = "; stopped after the canary (not confirmed)"
        case "interrupt": stopped = "; interrupted"
        default: stopped = ""
        }
        var sent = ""
        if let host = summary.hostBytesSent {
            sent = "; this host sent \(ByteCount.human(host))" + (summary.relayHostBytesSent.map { " (\(ByteCount.human($0)) to the relays)" } ?? "")
        }
        return table.render() + "\n\(summary.boards.count) board\(summary.boards.count == 1 ? "" : "s"): \(counts) in \(summary.seconds) s, run \(summary.run)\(sent)\(stopped)"
    }

    /// `fleet rollout --dry-run`: each board's batch and what the rollout would do to it, then the totals.
    public static func dryRun(_ dry: RolloutDryRun) -> String {
        func gib(_ bytes: UInt64?) -> String { bytes.map { "\(($0 + ByteCount.gibibyte / 2) / ByteCount.gibibyte)G" } ?? "?" }
        let rows = dry.boards.map { board -> [String] in
            [board.batch, board.name, board.host, board.boardProfile ?? "?", gib(board.ddrBytes), board.action,
             board.phases.map(\.rawValue).joined(separator: ","), board.layout ?? "", board.bytesToSend == 0 ? "" : ByteCount.human(board.bytesToSend),
             board.error.map { "\($0.code): \($0.message)" } ?? board.reason]
        }
        let table = TextTable(header: ["BATCH", "BOARD", "HOST", "PROFILE", "DDR", "ACTION", "PHASES", "NEW LAYOUT", "TO SEND", "WHY"], rows: rows)
        var parts = ["\(dry.rollingOut) to roll out", "\(dry.skipped) skipped"]
        if dry.unreachable > 0 { parts.append("\(dry.unreachable) unreachable") }
        if dry.failed > 0 { parts.append("\(dry.failed) failed") }
        return table.render() + "\n\(dry.boards.count) boards: " + parts.joined(separator: ", ")
            + "; \(dry.layoutChanges) new layout\(dry.layoutChanges == 1 ? "" : "s") (with a reboot); \(ByteCount.human(dry.bytesToSend)) to send"
            + (dry.relay ? ", about \(ByteCount.human(dry.hostBytesToSend)) of it from this host (the boards of a batch relay the rest)" : "") + "; "
            + "\(dry.batches) step\(dry.batches == 1 ? "" : "s"), \(dry.parallel) at once. --dry-run: nothing was changed"
    }
}
