import Foundation
import TPUDeployKit

/// What `fleet rollout` shows while it runs: with `--json`, every event as one JSON line on stdout, written as it
/// happens; on a terminal, `RolloutLiveView`'s frames on stderr, redrawn in place (a line per board in flight, a
/// summary line, failures printed above as they happen); otherwise one line on stderr per phase a board starts
/// or ends, failures as they happen, and a line per finished board with the run's count so far.
final class RolloutDisplay: @unchecked Sendable {
    private let json: Bool
    private let lock = NSLock()
    /// The live view, on a terminal without --json.
    private var live: RolloutLiveView?
    private var liveLines = 0
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private let start = ContinuousClock.now
    private var ticker: Task<Void, Never>?
    private var finished = 0
    private var total = 0
    private var failures = 0
    /// When each board's push began, for its rate.
    private var transfers: [String: ContinuousClock.Instant] = [:]
    /// Waits (a reboot, a model loading) are shown every 10 s a board, not every second.
    private let waits = WaitThrottle()

    init(json: Bool, interactive: Bool = standardErrorIsTerminal) {
        self.json = json
        if !json, interactive { live = RolloutLiveView(boardCount: 0) }
    }

    func started(run: String, plan: RolloutPlan, journal: String?) {
        lock.withLock {
            total = plan.boardCount
            if live != nil {
                live = RolloutLiveView(boardCount: plan.boardCount, width: Self.terminalColumns())
                // The live lines show elapsed times and rates: redrawn every second even when no event comes.
                ticker = Task { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        self?.draw(force: true)
                    }
                }
            }
        }
        guard !json else { return }
        let steps = plan.batches.count
        let caps = [plan.maxTransfers.map { "\($0) transferring" }, plan.maxReboots.map { "\($0) rebooting" }].compactMap { $0 }
        note("rollout \(run): \(plan.boardCount) board\(plan.boardCount == 1 ? "" : "s") in \(steps) step\(steps == 1 ? "" : "s"), \(plan.parallel) at once" + (caps.isEmpty ? "" : " (at most " + caps.joined(separator: ", ") + ")") + (journal.map { "; journal \($0)" } ?? ""))
    }

    /// One event: a JSON line, or a terminal line for what a person wants to follow.
    func show(_ event: FleetEvent) {
        if json {
            if let text = try? FleetJSONLines.line(event) { line(text) }
            return
        }
        if live != nil {
            let urgent = lock.withLock { () -> Bool in
                live?.apply(event, at: seconds())
                return event.error != nil
            }
            draw(force: urgent)
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

    /// Redraws the live view (at most 10 times a second unless `force`: a failure is shown at once).
    private func draw(force: Bool) {
        lock.withLock {
            guard var view = live else { return }
            let now = ContinuousClock.now
            guard force || now - lastDraw >= .milliseconds(100) else { return }
            lastDraw = now
            let frame = view.frame(at: seconds())
            live = view
            FileHandle.standardError.write(Data(frame.terminalText(previousLive: liveLines).utf8))
            liveLines = frame.live.count
        }
    }

    /// Ends the live view: its lines are erased (the final table follows on stdout), what was to be said above is said.
    func finish() {
        lock.withLock {
            ticker?.cancel()
            ticker = nil
            guard var view = live else { return }
            var frame = view.frame(at: seconds())
            frame.live = []
            FileHandle.standardError.write(Data(frame.terminalText(previousLive: liveLines).utf8))
            liveLines = 0
            live = nil
        }
    }

    private func seconds() -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The terminal's width in columns (stderr's), 100 when it does not say.
    private static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
        return Int(size.ws_col)
    }

    /// After a canary that ended well: asks on the terminal whether to go on.
    func askToGoOn(after canary: [FleetBoardResult], remaining: Int) async -> Bool {
        // The question must not be redrawn over: the live lines are cleared while it waits for the answer.
        let paused = lock.withLock { () -> RolloutLiveView? in
            guard var view = live else { return nil }
            let frame = view.frame(at: seconds())
            FileHandle.standardError.write(Data(RolloutLiveView.Frame(above: frame.above, live: []).terminalText(previousLive: liveLines).utf8))
            liveLines = 0
            live = nil
            return view
        }
        defer { lock.withLock { live = paused } }
        let names = canary.map { "\($0.name) \($0.outcome.rawValue)" }.joined(separator: ", ")
        note("canary done (\(names)). Go on with the other \(remaining) board\(remaining == 1 ? "" : "s")? [y/N] ")
        // The answer is read on a thread of its own: a read blocking a pool thread would stall the boards' tasks.
        let answer: String? = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: readLine()) }.start()
        }
        return ["y", "yes"].contains(answer?.lowercased() ?? "")
    }

    func note(_ text: String) {
        let shown = lock.withLock { () -> Bool in
            guard live != nil else { return false }
            live?.note("tpudeploy: \(text)")
            return true
        }
        if shown { draw(force: true); return }
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
