import Foundation

/// Progress of the engine commands on stderr: step lines, and a rewritten "waiting" line on a terminal
/// (a line every 10 s otherwise); nothing when quiet (--json).
final class StatusLine: @unchecked Sendable {
    private let lock = NSLock()
    private let quiet: Bool
    private let interactive = standardErrorIsTerminal
    private var lineOpen = false
    private var lastReported = -1

    init(quiet: Bool) { self.quiet = quiet }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    func step(_ text: String) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        if lineOpen { write("\n"); lineOpen = false }
        write("• \(text)\n")
    }

    func waiting(_ what: String, seconds: Double) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        if interactive {
            write(String(format: "\r  %@: %.0f s   ", what, seconds))
            lineOpen = true
        } else if Int(seconds) / 10 != lastReported {
            lastReported = Int(seconds) / 10
            write(String(format: "  %@: %.0f s\n", what, seconds))
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if lineOpen { write("\n"); lineOpen = false }
    }
}
