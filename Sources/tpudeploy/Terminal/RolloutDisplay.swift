import Foundation
import TPUDeployKit

/// What `fleet rollout` shows while it runs: with `--json`, every event as one JSON line on stdout, written as it
/// happens; otherwise one line on stderr per phase a board starts or ends, failures as they happen, and a line
/// per finished board with the run's count so far.
final class RolloutDisplay: @unchecked Sendable {
    private let json: Bool
    private let lock = NSLock()
    private var finished = 0
    private var total = 0
    private var failures = 0
    /// When each board's push began, for its rate.
    private var transfers: [String: ContinuousClock.Instant] = [:]
    /// Waits (a reboot, a model loading) are shown every 10 s a board, not every second.
    private let waits = WaitThrottle()

    init(json: Bool) { self.json = json }

    func started(run: String, plan: RolloutPlan, journal: String?) {
        lock.withLock { total = plan.boardCount }
        guard !json else { return }
        let steps = plan.batches.count
        note("rollout \(run): \(plan.boardCount) board\(plan.boardCount == 1 ? "" : "s") in \(steps) step\(steps == 1 ? "" : "s"), \(plan.parallel) at once" + (journal.map { "; journal \($0)" } ?? ""))
    }

    /// One event: a JSON line, or a terminal line for what a person wants to follow.
    func show(_ event: FleetEvent) {
        if json {
            if let text = try? FleetJSONLines.line(event) { line(text) }
            return
        }
        let who = "\(event.board) (\(event.host))"
        // A failed distribution is no failure of the board: its push sends the files.
        if event.phase == .distribute, let error = event.error {
            note("\(who): distribute failed: \(error.code): \(error.message)" + (event.detail.map { "; \($0)" } ?? ""))
            return
        }
        if let error = event.error {
            let count = lock.withLock { failures += 1; finished += 1; return (finished, total) }
            note("\(who): \(event.status) in \(event.phase.rawValue): \(error.code): \(error.message) [\(count.0)/\(count.1)]")
            return
        }
        switch (event.phase, event.status) {
        case (_, "progress"):
            if let done = event.bytesDone, let all = event.bytesTotal, all > 0 {
                let rate = lock.withLock { () -> String in
                    guard let started = transfers[event.board] else { return "" }
                    let seconds = Double((ContinuousClock.now - started).components.seconds) + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                    return seconds > 0.5 ? " at \(ByteCount.human(UInt64(Double(done) / seconds)))/s" : ""
                }
                note("\(who): \(event.phase.rawValue) \(ByteCount.human(done)) of \(ByteCount.human(all))\(rate)")
            } else if let detail = event.detail, waits.due(event.board) {
                note("\(who): \(event.phase.rawValue): \(detail)")
            }
        case (.done, let outcome):
            let count = lock.withLock { finished += 1; return (finished, total) }
            note("\(who): \(outcome)" + (event.detail.map { ": \($0)" } ?? "") + " [\(count.0)/\(count.1)]")
        case (.connect, _), (.inspect, "started"):
            break
        case (_, "started"):
            if event.phase == .push || event.phase == .distribute { lock.withLock { transfers[event.board] = ContinuousClock.now } }
            note("\(who): \(event.phase.rawValue)…" + (event.detail.map { " (\($0))" } ?? ""))
        case (_, "done"), (_, "skipped"):
            if let detail = event.detail { note("\(who): \(event.phase.rawValue) \(event.status): \(detail)") }
        default:
            break
        }
    }

    /// After a canary that ended well: asks on the terminal whether to go on.
    func askToGoOn(after canary: [FleetBoardResult], remaining: Int) async -> Bool {
        let names = canary.map { "\($0.name) \($0.outcome.rawValue)" }.joined(separator: ", ")
        note("canary done (\(names)). Go on with the other \(remaining) board\(remaining == 1 ? "" : "s")? [y/N] ")
        // The answer is read on a thread of its own: a read blocking a pool thread would stall the boards' tasks.
        let answer: String? = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: readLine()) }.start()
        }
        return ["y", "yes"].contains(answer?.lowercased() ?? "")
    }

    func note(_ text: String) {
        lock.withLock { FileHandle.standardError.write(Data("tpudeploy: \(text)\n".utf8)) }
    }

    /// One line on stdout, written at once (a reader sees each event as it happens).
    func line(_ text: String) {
        lock.withLock { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
    }
}

/// One waiting line per board every 10 s.
private final class WaitThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private var last: [String: ContinuousClock.Instant] = [:]

    func due(_ board: String) -> Bool {
        lock.withLock {
            let now = ContinuousClock.now
            if let previous = last[board], now - previous < .seconds(10) { return false }
            last[board] = now
            return true
        }
    }
}
