import Foundation

/// Gathers a `BoardReport` from a connected board: one shell round trip for the facts, a few SFTP reads of
/// `/boot/emmcboot.itb` for the configured layout, and a `sudo` round trip only when the live heaps need
/// root and the login is not root.
public struct BoardInspector: Sendable {
    public var profiles: ProfileStore?
    /// When set, the report says whether this model fits the NPU heap.
    public var model: ModelProfile?
    /// Asked for the sudo password when the login user is not root and the login used none.
    public var passwordProvider: PasswordProvider?
    public var bootImagePath = "/boot/emmcboot.itb"
    public var dataPath = "/data"
    /// Whether to check every hash of the boot image (a full read of it); fix-memory checks it its own way.
    public var checksBootImage = true

    public init(profiles: ProfileStore? = nil, model: ModelProfile? = nil, passwordProvider: PasswordProvider? = nil) {
        self.profiles = profiles
        self.model = model
        self.passwordProvider = passwordProvider
    }

    public func inspect(_ session: SSHSession) async throws -> BoardReport {
        let probe = try await session.run(BoardProbe.script(dataPath: dataPath), timeout: 60)
        let sections = try BoardProbe.sections(of: probe.stdoutText)
        var warnings: [String] = []
        func section(_ name: String) -> String { sections[name] ?? "" }

        let unameLines = section("uname").split(separator: "\n").map(String.init)
        let os: String?
        do { os = try OSRelease(text: section("os-release")).prettyName } catch {
            os = nil
            warnings.append("\(error)")
        }
        let dtb = section("dtb").isEmpty ? nil : section("dtb")
        if dtb == nil {
            warnings.append("the board does not say which dtb it booted (no /proc/device-tree/info/file-name): is this a BM1684X SoC board?")
        }

        let linuxMemory: LinuxMemory?
        do { linuxMemory = try LinuxMemory(meminfo: section("meminfo")) } catch {
            linuxMemory = nil
            warnings.append("\(error)")
        }

        let npu = readBMSMI(section("bm-smi"), warnings: &warnings)

        var dataSpace: FilesystemSpace?
        do { dataSpace = try FilesystemSpace(dfPortable: section("data"), path: dataPath) } catch {
            warnings.append("\(error)")
        }

        var configured: ConfiguredLayout?
        switch section("boot") {
        case "readable":
            if checksBootImage, let damage = await BootImageHealth.inspectionWarning(bootImagePath, on: session) { warnings.append(damage) }
            if let dtb {
                do { configured = try await readConfiguredLayout(session, dtb: dtb) } catch {
                    warnings.append("cannot read the memory layout from \(bootImagePath): \(error)")
                }
            }
        case "unreadable":
            warnings.append("\(bootImagePath) is not readable by \(session.target.effectiveUser): the configured layout is unknown. Log in as root, or make /boot readable.")
        default:
            warnings.append("\(bootImagePath) does not exist: this board does not boot from an eMMC FIT image tpudeploy knows.")
        }

        let live = try await readLiveHeaps(session, section: section("ion"), warnings: &warnings)

        var heaps: [HeapStatus] = []
        for name in ["npu", "vpu", "vpp"] {
            let heap = configured?.layout.heap(named: name)
            heaps.append(HeapStatus(name: name, configuredStart: heap?.start, configuredBytes: heap?.size, liveBytes: live?[name]))
        }
        var rebootPending: Bool?
        if configured != nil, live != nil {
            rebootPending = heaps.contains { $0.configuredBytes != $0.liveBytes }
        }

        let boardProfile = try dtb.flatMap { try profiles?.board(booting: $0)?.name }
        let diagnosis = model.map {
            MemoryDiagnosis(
                model: $0, liveNPUBytes: live?["npu"], configuredNPUBytes: heaps[0].configuredBytes, boardProfile: boardProfile)
        }
        let pids = section("engine").split(separator: "\n").compactMap { Int($0) }

        return BoardReport(
            target: session.target.displayName,
            hostname: section("hostname").isEmpty ? nil : section("hostname"),
            os: os,
            kernel: unameLines.first,
            arch: unameLines.count > 1 ? unameLines[1] : nil,
            libsophonVersion: Self.libsophonVersion(fromPath: section("libsophon")),
            dtb: dtb,
            board: boardProfile,
            bootImage: configured.map { BootImageSummary(path: bootImagePath, sizeBytes: $0.imageSize, fdtImage: $0.fdtImage) },
            ddr: configured.map { DDRSummary(totalBytes: $0.layout.totalDRAMBytes, banks: $0.layout.bankSummaries) },
            heaps: heaps,
            liveHeapsKnown: live != nil,
            rebootPending: rebootPending,
            linux: LinuxMemoryStatus(
                configuredBytes: configured?.layout.linuxBytes, memTotalBytes: linuxMemory?.totalBytes,
                memAvailableBytes: linuxMemory?.availableBytes),
            npuMemory: npu,
            dataFilesystem: dataSpace,
            engine: EngineStatus(running: !pids.isEmpty, pids: pids),
            diagnosis: diagnosis,
            warnings: warnings)
    }

    /// "/opt/sophon/libsophon-0.4.9" → "0.4.9".
    static func libsophonVersion(fromPath path: String) -> String? {
        guard let last = path.split(separator: "/").last, last.hasPrefix("libsophon-") else { return nil }
        return String(last.dropFirst("libsophon-".count))
    }

    private func readBMSMI(_ text: String, warnings: inout [String]) -> NPUMemoryStatus? {
        if text == "@@missing" {
            warnings.append("bm-smi is not installed on the board (is libsophon installed under /opt/sophon?): NPU memory use is unknown")
            return nil
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let status = lines.last.flatMap { $0.hasPrefix("@@status:") ? Int($0.dropFirst("@@status:".count)) : nil }
        let output = lines.filter { !$0.hasPrefix("@@status:") }.joined(separator: "\n")
        if let status, status != 0 {
            warnings.append("bm-smi failed with status \(status): \(output.split(separator: "\n").first ?? "")")
            return nil
        }
        do {
            let usage = try NPUMemoryUsage(bmSMI: output)
            return NPUMemoryStatus(usedBytes: usage.usedBytes, totalBytes: usage.totalBytes, chip: usage.chip, sdkVersion: usage.sdkVersion)
        } catch {
            warnings.append("\(error)")
            return nil
        }
    }

    private func readLiveHeaps(_ session: SSHSession, section: String, warnings: inout [String]) async throws -> [String: UInt64]? {
        var reading: LiveHeapReading
        do { reading = try LiveHeapReading(section: section) } catch {
            warnings.append("\(error)")
            return nil
        }
        if reading == .needsPassword {
            do {
                let shell = try await RootShell.open(session, passwordProvider: passwordProvider)
                let result = try await shell.run(BoardProbe.ionHeapsScript, timeout: 30)
                reading = try LiveHeapReading(section: result.stdoutText)
            } catch let error as RootAccessError {
                switch error {
                case .passwordNeeded:
                    warnings.append("the live heap sizes need root, and sudo on the board wants a password: set TPUDEPLOY_PASSWORD or pass --password-file")
                case .sudoRefused(let user, _, _):
                    warnings.append("sudo on the board refused the password for \(user): the live heap sizes are unknown (check TPUDEPLOY_PASSWORD or --password-file)")
                }
                return nil
            } catch let error as BoardOutputError {
                warnings.append("\(error)")
                return nil
            }
        }
        switch reading {
        case .sizes(let sizes): return sizes
        case .unavailable:
            warnings.append("the board has no /sys/kernel/debug/ion: live heap sizes are unknown")
            return nil
        case .needsPassword: return nil
        }
    }

    private func readConfiguredLayout(_ session: SSHSession, dtb: String) async throws -> ConfiguredLayout {
        let path = bootImagePath
        return try await session.withConnection { connection in
            let reader = try SFTPFileReader(connection: connection, path: path)
            return try ConfiguredLayout(source: reader, dtb: dtb)
        }
    }
}
