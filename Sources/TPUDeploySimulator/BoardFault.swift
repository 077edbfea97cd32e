/// A fault injected into a running simulated board from the host side, to test how tools cope with boards
/// that are not in order. Faults stay until `.clearAll`, across reboots.
public enum BoardFault: String, Sendable, Codable, CaseIterable {
    /// `bm-smi` is not installed (removed from `/usr/local/bin`).
    case noBMSMI = "no-bm-smi"
    /// `bm-smi` prints garbage instead of its table.
    case malformedBMSMI = "malformed-bm-smi"
    /// `/boot` and the files in it cannot be read by anyone but root.
    case unreadableBoot = "unreadable-boot"
    /// `/proc/meminfo` is cut short in the middle of a line.
    case malformedMeminfo = "malformed-meminfo"
    /// Removes every fault injected before.
    case clearAll = "clear-all"
}

import Foundation

extension Simulator {
    /// Applies `fault` to a board from the host side, at once; faults last across reboots until `.clearAll`.
    public func inject(_ fault: BoardFault, into name: String) throws {
        let filesystem = BoardFilesystem(directory: try layout.record(name).board.stateDirectory.fileURL)
        var faults = Set(((try? String(contentsOf: filesystem.faultsFile, encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init))
        let boot = filesystem.bootDirectory
        let bootFiles = ((try? FileManager.default.contentsOfDirectory(atPath: boot.path)) ?? []).map { boot.appendingPathComponent($0).path }
        switch fault {
        case .noBMSMI:
            try? FileManager.default.removeItem(at: filesystem.bmSMI)
        case .malformedBMSMI:
            break
        case .unreadableBoot:
            try CommandRunner.run("chmod", ["0700", boot.path])
            if !bootFiles.isEmpty { try CommandRunner.run("chmod", ["0600"] + bootFiles) }
        case .malformedMeminfo:
            let total = ((try? String(contentsOf: filesystem.file("meminfo.booted"), encoding: .utf8)) ?? "")
                .split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?.split(separator: " ").dropFirst().first ?? "0"
            try overwriteInPlace(filesystem.meminfoFile, with: "MemTotal:       \(total)\nMemFr")
        case .clearAll:
            if !FileManager.default.fileExists(atPath: filesystem.bmSMI.path) {
                try FileManager.default.copyItem(at: try SimulatorResources.boardToolsDirectory().appendingPathComponent("bm-smi"),
                                                 to: filesystem.bmSMI)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: filesystem.bmSMI.path)
            }
            try CommandRunner.run("chmod", ["0755", boot.path])
            if !bootFiles.isEmpty { try CommandRunner.run("chmod", ["0644"] + bootFiles) }
            if let booted = try? String(contentsOf: filesystem.file("meminfo.booted"), encoding: .utf8) {
                try overwriteInPlace(filesystem.meminfoFile, with: booted)
            }
            faults.removeAll()
        }
        if fault != .clearAll { faults.insert(fault.rawValue) }
        try filesystem.write("faults", faults.sorted().map { $0 + "\n" }.joined())
    }

    /// Writes into the same inode: the board's `/proc/meminfo` is bound to this very file.
    private func overwriteInPlace(_ file: URL, with text: String) throws {
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
    }
}
