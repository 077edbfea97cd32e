import Foundation
import TPUDeployKit

/// Shows push progress on stderr: on a terminal, one line per file plus a total line, redrawn with rate and
/// ETA; otherwise one plain line per step and file; nothing with --json.
final class PushProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private let quiet: Bool
    /// When the first byte of this push was sent: the total's rate and ETA cover every file sent so far.
    private var started: Date?
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(quiet: Bool) {
        self.quiet = quiet
        interactive = standardErrorIsTerminal
    }

    var handler: PushEvents { { [self] event in self.show(event) } }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    private func closeLines() {
        if drawn { write("\n\n"); drawn = false }
    }

    private func show(_ event: PushEvent) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .step(let text):
            closeLines()
            write("• \(text)\n")
        case .hashing(let done, let total):
            guard interactive, Date().timeIntervalSince(lastDraw) > 0.2 || done == total else { return }
            lastDraw = Date()
            write("\r\u{1B}[2K  hashing \(Self.bar(done, total)) \(ByteCount.human(done)) / \(ByteCount.human(total))" + (done == total ? "\n" : ""))
        case .fileStarted(let name, let size, let resumeFrom, let skipped):
            closeLines()
            if skipped {
                write("  \(name): already on the board (\(ByteCount.human(size)))\n")
            } else if resumeFrom > 0 {
                write("  \(name): resuming after \(ByteCount.human(resumeFrom)) of \(ByteCount.human(size))\n")
            } else {
                write("  \(name): sending \(ByteCount.human(size))\n")
            }
            if !skipped, started == nil { started = Date() }
        case .progress(let name, let fileDone, let fileSize, let totalDone, let totalBytes):
            guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || fileDone == fileSize else { return }
            lastDraw = Date()
            let elapsed = max(Date().timeIntervalSince(started ?? Date()), 0.001)
            let rate = Double(totalDone) / elapsed
            let eta = rate > 0 ? Int(Double(totalBytes - min(totalBytes, totalDone)) / rate) : 0
            let fileLine = "  \(name) \(Self.bar(fileDone, fileSize)) \(Self.percent(fileDone, fileSize))"
            let totalLine = "  total \(Self.bar(totalDone, totalBytes)) \(ByteCount.human(totalDone)) / \(ByteCount.human(totalBytes))  \(ByteCount.human(UInt64(rate)))/s  ETA \(eta / 60)m\(String(format: "%02d", eta % 60))s"
            if drawn { write("\u{1B}[1A\r\u{1B}[2K") }
            write("\r\u{1B}[2K\(fileLine)\n\u{1B}[2K\(totalLine)")
            drawn = true
        case .verifying(let name, _):
            closeLines()
            if !interactive { write("  \(name): sent; the board is checking its sha256\n") }
        case .resending(let name, let reason):
            closeLines()
            write("  \(name): \(reason); sending it again\n")
        case .fileDone(let name):
            closeLines()
            write("  \(name): verified and in place\n")
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { write("\n"); drawn = false }
    }

    private static func bar(_ done: UInt64, _ total: UInt64) -> String {
        let width = 24
        let filled = total == 0 ? width : Int(min(done, total) * UInt64(width) / total)
        return String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    }

    private static func percent(_ done: UInt64, _ total: UInt64) -> String {
        total == 0 ? "100%" : "\(min(done, total) * 100 / total)%"
    }

    /// The human summary printed on stdout at the end.
    static func summary(_ result: PushResult) -> String {
        var rows: [String] = []
        for file in result.files {
            let what: String
            switch file.action {
            case .skipped: what = "already there"
            case .uploaded: what = "sent" + (file.resends > 0 ? " (sent again after a hash mismatch)" : "")
            case .resumed: what = "resumed after \(ByteCount.human(file.resumedFromBytes))"
            case .wouldSend: what = "would be sent"
            }
            rows.append("  \(file.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(file.remotePath)  \(ByteCount.human(file.sizeBytes))  \(what)")
        }
        let head: String
        switch result.status {
        case .upToDate: head = "\(result.target): \(result.remoteDir) is up to date"
        case .planned: head = "\(result.target): dry run, nothing sent"
        case .pushed: head = "\(result.target): pushed \(ByteCount.human(result.bytesSent)) in \(String(format: "%.1f", result.seconds)) s (\(ByteCount.human(result.bytesPerSecond))/s)"
        }
        let warnings = result.warnings.map { "warning: \($0)" }
        return ([head] + rows + warnings).joined(separator: "\n")
    }
}
