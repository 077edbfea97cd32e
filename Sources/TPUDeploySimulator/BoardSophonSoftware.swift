import Foundation

/// The Sophgo software of a simulated board laid out as the SoC packages and kernel lay it out on a real one:
/// `/opt/sophon/libsophon-<version>` with `libsophon-current` pointing at it, bm-smi in its `bin` (on the PATH of
/// login shells only, through `/etc/profile.d/libsophon-bin-path.sh`), the `sophon-soc-libsophon` entry in the
/// Debian package database, the bmtpu driver's `/sys/module/bmtpu/version` and the kernel's build string.
///
/// Vendor sources: sophgo/libsophon `CMakeLists.txt` (package `sophon-soc` + component `libsophon`, install
/// prefix `/opt/sophon/libsophon-<version>`), `bmlib/CMakeLists.txt` (the postinst that links
/// `libsophon-current` and copies `libsophon-bin-path.sh` to `/etc/profile.d`), `bmlib/debian-lib/`
/// (that script's PATH lines), `driver/bm_soc_drv.c` (`MODULE_VERSION(PROJECT_VER)` of the bmtpu module).
extension BoardFilesystem {
    /// The Debian package that carries libsophon on SoC boards.
    static let libsophonPackage = "sophon-soc-libsophon"

    /// The board's `/var/lib/dpkg/status`: the host's package database plus the Sophgo packages.
    var packageDatabase: URL { file("dpkg-status") }
    /// The board's `/sys/module/bmtpu`: present while the TPU driver is loaded.
    var tpuDriverModule: URL { file("sys-module/bmtpu") }
    /// Where the simulated runtime publishes what it holds in each ion heap (`npu`, `vpp`, `vpu`: bytes).
    var heapUseDirectory: URL { file("heap-used") }

    /// Where the SoC package puts bm-smi for `libsophon`.
    func bmSMI(libsophon version: String) -> URL { file("opt-sophon/libsophon-\(version)/bin/bm-smi") }

    /// Lays out libsophon, bm-smi, the profile.d script, the package entry, the driver module and the kernel build.
    func installSophonSoftware(_ image: SimulatedSoCImage, tools: URL) throws {
        let home = "opt-sophon/libsophon-\(image.libsophon)"
        for path in ["\(home)/lib", "\(home)/bin", "\(home)/include", "\(home)/data", "opt-sophon/lib", "etc/profile.d", "sys-module"] {
            try FileManager.default.createDirectory(at: file(path), withIntermediateDirectories: true)
        }
        try FileManager.default.createSymbolicLink(atPath: file("opt-sophon/libsophon-current").path,
                                                   withDestinationPath: "/opt/sophon/libsophon-\(image.libsophon)")
        try install(tools.appendingPathComponent("bm-smi"), as: "\(home)/bin/bm-smi")
        // The package ships the script in its data folder; its postinst copies it into /etc/profile.d.
        let binPath = """
            export PATH=$PATH:/opt/sophon/libsophon-current/bin
            export PATH=$PATH:/opt/sophon/libsophon-current/bin/bm1684x

            """
        try write("\(home)/data/libsophon-bin-path.sh", binPath, mode: 0o644)
        try write("etc/profile.d/libsophon-bin-path.sh", binPath, mode: 0o644)
        try writeTPUDriverModule(version: image.driver)
        try write("kernel-version", image.kernelBuild + "\n", mode: 0o444)
        try writePackageDatabase(libsophon: image.libsophon)
        // Any user's engine may publish its heap use here (the board's runtime runs as linaro or root).
        try FileManager.default.createDirectory(at: heapUseDirectory, withIntermediateDirectories: true)
        try setMode(heapUseDirectory, 0o777)
    }

    /// `/sys/module/bmtpu/version`, as the kernel shows a loaded module's `MODULE_VERSION`.
    func writeTPUDriverModule(version: String) throws {
        try FileManager.default.createDirectory(at: tpuDriverModule, withIntermediateDirectories: true)
        try write("sys-module/bmtpu/version", version + "\n", mode: 0o444)
    }

    /// Writes the board's package database in place (the board's `/var/lib/dpkg/status` is bound to this very
    /// file): the host's packages, the board's programs being the host's, plus `sophon-soc-libsophon` at
    /// `libsophon` when given.
    func writePackageDatabase(libsophon version: String?) throws {
        var text = (try? String(contentsOfFile: "/var/lib/dpkg/status", encoding: .utf8)) ?? ""
        if !text.isEmpty, !text.hasSuffix("\n\n") { text += text.hasSuffix("\n") ? "\n" : "\n\n" }
        if let version {
            text += """
                Package: \(Self.libsophonPackage)
                Status: install ok installed
                Priority: optional
                Section: devel
                Installed-Size: 183520
                Maintainer: sophon team
                Architecture: arm64
                Version: \(version)
                Depends: libc6 (>= 2.23), libncurses5 (>= 6.0)
                Description: sophon soc libsophon

                """
        }
        if FileManager.default.fileExists(atPath: packageDatabase.path) {
            let handle = try FileHandle(forWritingTo: packageDatabase)
            defer { try? handle.close() }
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(text.utf8))
        } else {
            try write("dpkg-status", text, mode: 0o644)
        }
    }

    /// The `KEY=value` lines of the board's `board.env`.
    func boardEnvironment() -> [String: String] {
        let text = (try? String(contentsOf: file("board.env"), encoding: .utf8)) ?? ""
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return values
    }
}
