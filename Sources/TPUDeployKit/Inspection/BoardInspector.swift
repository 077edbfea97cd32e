import Foundation

/// Gathers a `BoardReport` from a connected board: one shell round trip for the facts, a few SFTP reads of
/// `/boot/emmcboot.itb` for the configured layout, and a `sudo` round trip only when the live heaps need
/// root and the login is not root. It never runs bm-smi: on SoC that is only on a login shell's PATH and only
/// draws a curses screen until killed; every fact comes from files (dpkg, sysfs, procfs, debugfs).
public struct BoardInspector: Sendable {
    public var profiles: ProfileStore?
    /// When set, the report says whether this model fits the NPU heap.
    public var model: ModelProfile?
    /// A model judged by the need computed from its bmodel file (each allocation against the heaps, as push
    /// judges it); when set, it is judged instead of `model`.
    public var modelFile: ModelNeeds?
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

        let versions = Self.softwareVersions(sections)
        warnings += versions.missingFactWarnings
        let runtimeCheck = LLMRuntimeCheck(versions)
        if let warning = runtimeCheck.warning { warnings.append(warning) }

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
            heaps.append(HeapStatus(name: name, configuredStart: heap?.start, configuredBytes: heap?.size, liveBytes: live?[name]?.totalBytes,
                                    liveUsedBytes: live?[name]?.usedBytes))
        }
        var rebootPending: Bool?
        if configured != nil, live != nil {
            rebootPending = heaps.contains { $0.configuredBytes != $0.liveBytes }
        }

        let board = try dtb.flatMap { try profiles?.board(booting: $0) }
        let boardProfile = board?.name
        let limits = configured.flatMap { try? MemoryPlanner.limits(for: $0.layout) }
        var capacity: LayoutCapacity?
        if let configured, let board {
            capacity = LayoutCapacity(layout: configured.layout, limits: limits, minimumLinuxMiB: board.minimumLinuxMiB)
        }
        func sizes(_ size: (HeapStatus) -> UInt64?) -> DeviceHeaps {
            func heap(_ name: String) -> UInt64? { heaps.first { $0.name == name }.flatMap(size) }
            return DeviceHeaps(npu: heap("npu"), vpp: heap("vpp"), vpu: heap("vpu"))
        }
        let judged = modelFile ?? model.map { ModelNeeds(name: $0.name, fixMemoryArgument: $0.name, chip: $0.chip, totalBytes: $0.npuMemoryBytes) }
        let diagnosis = judged.map {
            MemoryDiagnosis(
                model: $0, live: live == nil ? nil : sizes(\.liveBytes), configured: configured == nil ? nil : sizes(\.configuredBytes),
                capacity: capacity, boardProfile: boardProfile)
        }
        let pids = section("engine").split(separator: "\n").compactMap { Int($0) }

        return BoardReport(
            target: session.target.displayName,
            hostname: section("hostname").isEmpty ? nil : section("hostname"),
            os: os,
            kernel: unameLines.first,
            arch: unameLines.count > 1 ? unameLines[1] : nil,
            chip: chipName(deviceTreeCompatible: section("compatible")),
            libsophonVersion: versions.libsophon,
            libsophonSource: versions.libsophonSource,
            driverVersion: versions.driver,
            kernelBuild: versions.kernelBuild,
            kernelBuildDate: versions.kernelBuildDate,
            llmRuntimeCheck: runtimeCheck,
            dtb: dtb,
            board: boardProfile,
            bootImage: configured.map { BootImageSummary(path: bootImagePath, sizeBytes: $0.imageSize, fdtImage: $0.fdtImage) },
            ddr: configured.map { DDRSummary(totalBytes: $0.layout.totalDRAMBytes, banks: $0.layout.bankSummaries) },
            heaps: heaps,
            layoutLimits: limits,
            liveHeapsKnown: live != nil,
            rebootPending: rebootPending,
            linux: LinuxMemoryStatus(
                configuredBytes: configured?.layout.linuxBytes, memTotalBytes: linuxMemory?.totalBytes,
                memAvailableBytes: linuxMemory?.availableBytes),
            deviceMemory: live.flatMap(DeviceMemoryUse.init),
            dataFilesystem: dataSpace,
            engine: EngineStatus(running: !pids.isEmpty, pids: pids),
            diagnosis: diagnosis,
            warnings: warnings)
    }

    /// The versions the probe found: libsophon from its Debian package, else from the install directory
    /// `libsophon-current` points at; the driver from its module; the kernel's build day from its version string.
    static func softwareVersions(_ sections: [String: String]) -> SoftwareVersions {
        var versions = SoftwareVersions()
        if let package = LibsophonPackage(dpkgQuery: sections["libsophon-package"] ?? "") {
            versions.libsophon = package.version
            versions.libsophonSource = "dpkg \(package.name)"
        } else if let version = LibsophonPackage.version(fromInstallPath: sections["libsophon"] ?? "") {
            versions.libsophon = version
            versions.libsophonSource = "/opt/sophon/libsophon-current"
        }
        let driver = (sections["driver"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        versions.driver = driver.isEmpty ? nil : driver
        let build = (sections["kernel-build"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        versions.kernelBuild = build.isEmpty ? nil : build
        versions.kernelBuildDate = KernelBuildDate(kernelVersion: build)?.iso
        return versions
    }

    private func readLiveHeaps(_ session: SSHSession, section: String, warnings: inout [String]) async throws -> [String: LiveHeap]? {
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
                    warnings.append("the live heap sizes and device memory in use need root, and sudo on the board wants a password: set TPUDEPLOY_PASSWORD or pass --password-file")
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
        case .heaps(let heaps):
            let unknown = heaps.filter { $0.value.usedBytes == nil }.keys.sorted()
            if !unknown.isEmpty {
                warnings.append("the ion driver shows no use for the \(unknown.joined(separator: ", ")) heap (no alloc_mem or summary in /sys/kernel/debug/ion): device memory in use is unknown")
            }
            return heaps
        case .unavailable:
            warnings.append("the board has no /sys/kernel/debug/ion (debugfs not mounted?): live heap sizes and device memory in use are unknown; as root: mount -t debugfs none /sys/kernel/debug")
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
