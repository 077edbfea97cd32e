/// A fault injected into a running simulated board from the host side, to test how tools cope with boards
/// that are not in order. Faults stay until `.clearAll`, across reboots.
public enum BoardFault: String, Sendable, Codable, CaseIterable {
    /// libsophon's files are in `/opt/sophon`, but the Debian package database has no `sophon-soc-libsophon`
    /// (libsophon copied by hand, or the package removed without its files).
    case noLibsophonPackage = "no-libsophon-package"
    /// The TPU driver is not loaded: `/sys/module/bmtpu` is gone.
    case noTPUDriver = "no-tpu-driver"
    /// debugfs has no `ion` directory (not mounted, or a kernel without the ion debug files): at once and at
    /// every boot; after `.clearAll` it is back from the next boot on.
    case noIonDebugfs = "no-ion-debugfs"
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
        case .noLibsophonPackage:
            try filesystem.writePackageDatabase(libsophon: nil)
        case .noTPUDriver:
            try? FileManager.default.removeItem(at: filesystem.tpuDriverModule)
        case .noIonDebugfs:
            try? FileManager.default.removeItem(at: filesystem.file("debugfs/ion"))
        case .unreadableBoot:
            try CommandRunner.run("chmod", ["0700", boot.path])
            if !bootFiles.isEmpty { try CommandRunner.run("chmod", ["0600"] + bootFiles) }
        case .malformedMeminfo:
            let total = ((try? String(contentsOf: filesystem.file("meminfo.booted"), encoding: .utf8)) ?? "")
                .split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?.split(separator: " ").dropFirst().first ?? "0"
            try overwriteInPlace(filesystem.meminfoFile, with: "MemTotal:       \(total)\nMemFr")
        case .clearAll:
            let environment = filesystem.boardEnvironment()
            try filesystem.writePackageDatabase(libsophon: environment["LIBSOPHON_VERSION"])
            if let driver = environment["DRIVER_VERSION"], !FileManager.default.fileExists(atPath: filesystem.tpuDriverModule.path) {
                try filesystem.writeTPUDriverModule(version: driver)
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
