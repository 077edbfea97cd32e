import Foundation

/// What a terminal shows while `fleet rollout` runs: one line per board in flight (its phase, its progress and
/// rate, how long it has been in the phase), a summary line under them, and each failure printed once above
/// them as it happens. A pure value: it is fed the run's events with the second each was seen, and gives
/// frames; the command only writes them (`Frame.terminalText`), redrawing the live lines in place.
public struct RolloutLiveView: Sendable {
    /// What to write: lines printed once (they scroll up with the terminal), then the live lines that replace the
    /// previous frame's.
    public struct Frame: Sendable, Equatable {
        public var above: [String]
        public var live: [String]

        public init(above: [String], live: [String]) {
            self.above = above
            self.live = live
        }

        /// The bytes that turn the previous frame (`previousLive` live lines, the cursor under them) into this one:
        /// back up to the first live line, clear to the end of the screen, print `above`, then `live`.
        public func terminalText(previousLive: Int) -> String {
            var text = previousLive > 0 ? "\u{1B}[\(previousLive)F\u{1B}[J" : ""
            for line in above + live { text += line + "\n" }
            return text
        }
    }

    /// One board in flight.
    struct Board: Sendable {
        var name: String
        var host: String
        var phase: FleetPhase
        var since: Double
        var detail: String?
        var bytesDone: UInt64?
        var bytesTotal: UInt64?
        /// The first progress of the phase (second, bytes), the start of its rate.
        var firstProgress: (Double, UInt64)?
        var rate: Double?
        /// `phase` ended and the next has not started (the board waits for a slot, or for its batch's relay).
        var waiting = false

        /// What the phase column says.
        var state: String { waiting ? "waiting" : phase.rawValue }
    }

    public let boardCount: Int
    /// Columns of the terminal: no line is longer, so none wraps and the redraw stays in place.
    public var width: Int
    /// Boards shown at most; the rest are counted in one line.
    public var maxBoardLines: Int
    private var active: [Board] = []
    private var outcomes: [FleetBoardOutcome: Int] = [:]
    private var failures = 0
    private var above: [String] = []

    public init(boardCount: Int, width: Int = 100, maxBoardLines: Int = 20) {
        self.boardCount = boardCount
        self.width = max(width, 20)
        self.maxBoardLines = max(maxBoardLines, 1)
    }

    /// Takes one event, seen `seconds` into the run.
    public mutating func apply(_ event: FleetEvent, at seconds: Double) {
        let who = "\(event.board) (\(event.host))"
        // A failed distribution is no failure of the board: its push sends the files. Said above, once.
        if event.phase == .distribute, let error = event.error {
            above.append("\(who): distribute failed: \(error.code): \(error.message)" + (event.detail.map { "; \($0)" } ?? ""))
            return
        }
        if let error = event.error {
            end(event.board, FleetBoardOutcome(rawValue: event.status) ?? .failed)
            failures += 1
            above.append("\(who): \(event.status) in \(event.phase.rawValue): \(error.code): \(error.message) [\(finished)/\(boardCount)]")
            return
        }
        if event.phase == .done {
            end(event.board, FleetBoardOutcome(rawValue: event.status) ?? .ok)
            return
        }
        var board = active.first { $0.name == event.board } ?? Board(name: event.board, host: event.host, phase: event.phase, since: seconds)
        if board.phase != event.phase {
            board = Board(name: board.name, host: board.host, phase: event.phase, since: seconds)
        }
        switch event.status {
        case "started":
            board.detail = event.detail
            board.bytesTotal = event.bytesTotal
        case "done", "skipped":
            board = Board(name: board.name, host: board.host, phase: event.phase, since: seconds, detail: "\(event.phase.rawValue) \(event.status)")
            board.waiting = true
        case "progress":
            if let done = event.bytesDone {
                board.bytesDone = done
                if let total = event.bytesTotal { board.bytesTotal = total }
                if let (start, startBytes) = board.firstProgress {
                    if seconds - start >= 0.5, done >= startBytes { board.rate = Double(done - startBytes) / (seconds - start) }
                } else {
                    board.firstProgress = (seconds, done)
                }
            } else if let detail = event.detail {
                board.detail = detail
            }
        default:
            break
        }
        if let index = active.firstIndex(where: { $0.name == board.name }) { active[index] = board } else { active.append(board) }
    }

    /// A line to print above the live lines (a note of the run: Ctrl-C pressed, the run's start).
    public mutating func note(_ text: String) { above.append(text) }

    /// The frame at `seconds` into the run; the lines above are given once.
    public mutating func frame(at seconds: Double) -> Frame {
        defer { above = [] }
        var live: [String] = []
        let shown = active.prefix(active.count > maxBoardLines ? maxBoardLines - 1 : maxBoardLines)
        let nameWidth = shown.map { $0.name.count }.max() ?? 0
        let phaseWidth = shown.map { $0.state.count }.max() ?? 0
        for board in shown {
            var line = board.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                + board.state.padding(toLength: phaseWidth, withPad: " ", startingAt: 0) + "  "
                + Self.elapsed(seconds - board.since)
            if let done = board.bytesDone {
                line += "  " + ByteCount.human(done)
                if let total = board.bytesTotal, total > 0 {
                    line += " of \(ByteCount.human(total)) (\(min(100, Int(Double(done) * 100 / Double(total))))%)"
                }
                if let rate = board.rate { line += " at \(ByteCount.human(UInt64(rate)))/s" }
            }
            if let detail = board.detail { line += "  " + detail }
            live.append(Self.fit(line, width))
        }
        if active.count > shown.count { live.append("… and \(active.count - shown.count) more boards in flight") }
        live.append(Self.fit(summary(at: seconds), width))
        // Lines above are printed once and never redrawn: a long one may wrap (a failure's whole message is kept).
        return Frame(above: above, live: live)
    }

    /// "3/10 boards done: 2 ok, 1 failed; 4 in flight; 12 s".
    func summary(at seconds: Double) -> String {
        let order: [FleetBoardOutcome] = [.ok, .skipped, .failed, .unreachable, .notBack, .notStarted]
        let counts = order.compactMap { outcome in outcomes[outcome].map { "\($0) \(outcome.rawValue)" } }
        return "\(finished)/\(boardCount) boards done" + (counts.isEmpty ? "" : ": " + counts.joined(separator: ", "))
            + "; \(active.count) in flight; \(Self.elapsed(seconds))"
    }

    private var finished: Int { outcomes.values.reduce(0, +) }

    private mutating func end(_ name: String, _ outcome: FleetBoardOutcome) {
        active.removeAll { $0.name == name }
        outcomes[outcome, default: 0] += 1
    }

    /// "7 s", "2 m 05 s".
    static func elapsed(_ seconds: Double) -> String {
        let whole = max(0, Int(seconds))
        return whole < 60 ? "\(whole) s" : "\(whole / 60) m \(String(format: "%02d", whole % 60)) s"
    }

    /// At most `width` columns (characters; the view writes no wide ones but board names).
    static func fit(_ line: String, _ width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width - 1)) + "…"
    }
}
