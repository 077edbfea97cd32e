import Foundation
import TPUDeployKit

/// Shows fix-memory's progress on stderr: one rewritten line on a terminal, plain step lines otherwise
/// (so logs stay readable), nothing with --json.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private let quiet: Bool
    private var lastTransferPercent = -1
    private var lineOpen = false

    init(quiet: Bool) {
        self.quiet = quiet
        self.interactive = standardErrorIsTerminal
    }

    var handler: MemoryFixEvents {
        { [self] event in self.show(event) }
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    private func show(_ event: MemoryFixEvent) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .step(let text):
            if lineOpen { write("\n"); lineOpen = false }
            lastTransferPercent = -1
            write("• \(text)\n")
        case .transfer(let what, let done, let total):
            let percent = total == 0 ? 100 : done * 100 / total
            guard interactive, percent != lastTransferPercent else { return }
            lastTransferPercent = percent
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write("\r  \(what) \(bar) \(percent)% of \(ByteCount.human(UInt64(total)))")
            lineOpen = true
            if done >= total { write("\n"); lineOpen = false }
        case .waiting(let what, let seconds, let limit):
            if interactive {
                write("\r  \(what): \(seconds) s (up to \(limit) s)")
                lineOpen = true
            } else if seconds % 10 == 0 {
                write("  \(what): \(seconds) s\n")
            }
        case .replacingBootImage, .bootImageReplaced:
            break   // the steps around them say it
        }
    }

    /// Ends an open line before other output.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if lineOpen { write("\n"); lineOpen = false }
    }
}
