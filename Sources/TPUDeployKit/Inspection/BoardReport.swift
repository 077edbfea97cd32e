/// Everything `tpudeploy inspect` learns about a board. Encoded as JSON with snake_case keys; the schema is
/// documented in docs/json-schemas.md (`tpudeploy.inspect/2`).
public struct BoardReport: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.inspect/2"

    public var schema = BoardReport.schemaName
    /// `user@host[:port]`.
    public var target: String
    public var hostname: String?
    public var os: String?
    public var kernel: String?
    public var arch: String?
    /// The SoC chip, from the live device tree's root `compatible` (e.g. "BM1684X").
    public var chip: String?
    /// libsophon's version, e.g. "0.4.9" (from dpkg, else the directory libsophon-current points at).
    public var libsophonVersion: String?
    /// Where `libsophonVersion` came from: "dpkg sophon-soc-libsophon" or "/opt/sophon/libsophon-current".
    public var libsophonSource: String?
    /// The bmtpu driver's version (`/sys/module/bmtpu/version`).
    public var driverVersion: String?
    /// The kernel's build string (`/proc/sys/kernel/version`, what `uname -v` prints).
    public var kernelBuild: String?
    /// The day the kernel was built, YYYY-MM-DD.
    public var kernelBuildDate: String?
    /// Whether those are new enough for sophgo/LLM-TPU's bmodels.
    public var llmRuntimeCheck: LLMRuntimeCheck
    /// The dtb the board booted, from the live device tree.
    public var dtb: String?
    /// The board profile that boots this dtb, if one does.
    public var board: String?
    public var bootImage: BootImageSummary?
    public var ddr: DDRSummary?
    public var heaps: [HeapStatus]
    /// The largest each heap can be on this board (what memory_edit.sh prints), from the configured layout.
    public var layoutLimits: LayoutLimits?
    /// Whether the live heap sizes could be read; when false, a missing `live_bytes` means unknown, not absent.
    public var liveHeapsKnown: Bool
    /// True when the layout in /boot differs from the live one: the board needs a reboot to apply it.
    public var rebootPending: Bool?
    public var linux: LinuxMemoryStatus
    /// Device memory in use summed over the NPU, VPP and VPU heaps: the figure bm-smi shows.
    public var deviceMemory: DeviceMemoryUse?
    public var dataFilesystem: FilesystemSpace?
    public var engine: EngineStatus
    public var diagnosis: MemoryDiagnosis?
    /// Facts that could not be gathered, each with the reason and what to do.
    public var warnings: [String]

    /// libsophon, driver and kernel build together.
    public var versions: SoftwareVersions {
        SoftwareVersions(libsophon: libsophonVersion, libsophonSource: libsophonSource, driver: driverVersion,
                         kernelBuild: kernelBuild, kernelBuildDate: kernelBuildDate)
    }
}

public struct BootImageSummary: Sendable, Codable, Equatable {
    public var path: String
    public var sizeBytes: UInt64
    /// The FIT image holding the board's dtb, e.g. "fdt-1".
    public var fdtImage: String
}

public struct DDRSummary: Sendable, Codable, Equatable {
    public var totalBytes: UInt64
    public var banks: [DDRBankSummary]
}

public struct DDRBankSummary: Sendable, Codable, Equatable {
    /// The high address cell: 1 = DDR0, 2 = DDR1, 3 = DDR2, 4 = DDR3.
    public var id: UInt64
    public var name: String
    public var start: UInt64
    public var sizeBytes: UInt64
}

/// One ion heap: as configured in the boot image, and as the running kernel has it.
public struct HeapStatus: Sendable, Codable, Equatable {
    /// npu, vpu or vpp.
    public var name: String
    public var configuredStart: UInt64?
    public var configuredBytes: UInt64?
    public var liveBytes: UInt64?
    /// Bytes allocated in the heap now (the ion driver's `alloc_mem`).
    public var liveUsedBytes: UInt64?
}

public struct LinuxMemoryStatus: Sendable, Codable, Equatable {
    /// DDR left to Linux by the boot image's layout (total minus carve-outs).
    public var configuredBytes: UInt64?
    public var memTotalBytes: UInt64?
    public var memAvailableBytes: UInt64?
}

public struct EngineStatus: Sendable, Codable, Equatable {
    public var running: Bool
    public var pids: [Int]
}
