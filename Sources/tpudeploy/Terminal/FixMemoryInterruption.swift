import Foundation
import TPUDeployKit

/// Ctrl-C during `fix-memory` on a board. Until the boot image is being replaced nothing on the board has
/// changed, so Ctrl-C exits at once (status 130) and says so. While the install script runs (seconds), a first
/// Ctrl-C only says to wait, as stopping then would leave unknown which image /boot holds; a second exits
/// anyway, saying that. Once the new image is in place, Ctrl-C exits and says it is installed.
final class FixMemoryInterruption: @unchecked Sendable {
    private enum Stage {
        case nothingChanged
        case replacing
        case replaced(bootBackup: String?, dataBackup: String?)
    }

    private let lock = NSLock()
    private var stage = Stage.nothingChanged
    private var presses = 0
    private let target: String
    private let json: Bool
    private let terminal: termios?

    init(target: String, json: Bool) {
        self.target = target
        self.json = json
        var settings = termios()
        terminal = isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &settings) == 0 ? settings : nil
    }

    /// Follows the run's events to know whether the board has changed yet.
    func note(_ event: MemoryFixEvent) {
        lock.withLock {
            switch event {
            case .replacingBootImage: stage = .replacing
            case .bootImageReplaced(let boot, let data): stage = .replaced(bootBackup: boot, dataBackup: data)
            default: break
            }
        }
    }

    /// Runs `body` with Ctrl-C handled as above.
    func watching<T>(_ body: () async throws -> T) async throws -> T {
        try await handlingInterrupts({ [self] in interrupted() }, body)
    }

    private func interrupted() {
        let (stage, presses) = lock.withLock { () -> (Stage, Int) in
            self.presses += 1
            return (self.stage, self.presses)
        }
        switch stage {
        case .nothingChanged:
            leave("fix-memory interrupted: nothing was changed on \(target); /boot/emmcboot.itb is as it was and the board boots as before"
                  + " (a partly uploaded copy, if any, is a hidden file the next run replaces)")
        case .replacing where presses == 1:
            FileHandle.standardError.write(Data("\ntpudeploy: the boot image of \(target) is being replaced; stopping now would leave unknown which image /boot holds. It takes seconds: wait (Ctrl-C again exits anyway)\n".utf8))
        case .replacing:
            leave("fix-memory interrupted while the boot image of \(target) was being replaced: which image /boot/emmcboot.itb holds is unknown. Do not reboot the board before `tpudeploy inspect` shows it (its heap table shows the layout in /boot)")
        case .replaced(let boot, let data):
            let saved = [boot, data].compactMap { $0 }
            leave("fix-memory interrupted: the new boot image is installed on \(target)"
                  + (saved.isEmpty ? "" : " (the previous one is saved as \(saved.joined(separator: " and ")))")
                  + "; it takes effect at the next reboot, if the board was not rebooted yet. Check with `tpudeploy inspect`; `tpudeploy fix-memory --rollback` undoes it")
        }
    }

    /// One line (and the JSON object with --json), the terminal as it was (a password prompt turns echo off), exit 130.
    private func leave(_ message: String) -> Never {
        if var settings = terminal { tcsetattr(STDIN_FILENO, TCSANOW, &settings) }
        if json, let text = try? JSONOutput.text(["cancelled": message]) {
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
        FileHandle.standardError.write(Data("\ntpudeploy: \(message)\n".utf8))
        _exit(130)
    }
}
