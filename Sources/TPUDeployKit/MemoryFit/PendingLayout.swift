/// The heaps a board runs now and the ones `/boot` gives it at its next reboot, when the two differ (a
/// `fix-memory --no-reboot`, or a boot image changed by hand, that the board has not rebooted into yet). A model
/// judged against the live heaps alone may stop loading at the next reboot, or may load only after it.
public struct PendingLayout: Sendable, Equatable {
    public var live: DeviceHeaps
    /// From /boot: what the board runs after its next reboot.
    public var configured: DeviceHeaps

    /// Nil unless both are known and differ.
    public init?(live: DeviceHeaps?, configured: DeviceHeaps?) {
        guard let live, let configured, live != configured else { return nil }
        self.live = live
        self.configured = configured
    }

    /// "live NPU 7168 MiB, VPP 2048 MiB, VPU 1024 MiB; after the next reboot (/boot) NPU 3950 MiB, …".
    public var layouts: String {
        "live \(Self.summary(live)); after the next reboot (/boot) \(Self.summary(configured))"
    }

    /// Where the model stands on each layout, as the refusal and the warning say it.
    public func fits(_ model: ModelNeeds) -> (now: HeapFit, afterReboot: HeapFit) {
        (HeapFit(need: model.memory, totalBytes: model.totalBytes, heaps: live),
         HeapFit(need: model.memory, totalBytes: model.totalBytes, heaps: configured))
    }

    /// How to apply /boot's layout. A reboot is all it takes; inspect then shows the live heaps.
    public static let rebootAdvice = "reboot the board (sudo reboot on it; `tpudeploy inspect` shows the live heaps when it is back)"

    /// How to keep the running layout instead: write it back to /boot, without a reboot since the board runs it.
    public var keepLiveAdvice: String {
        "write the running layout back to /boot: `tpudeploy fix-memory \(Self.fixMemoryArguments(live)) --no-reboot`"
    }

    /// `--npu N --vpu N --vpp N` in MiB (0 for a heap the layout lacks), the sizes fix-memory takes.
    static func fixMemoryArguments(_ heaps: DeviceHeaps) -> String {
        "--npu \(MiB.down(heaps.npu ?? 0)) --vpu \(MiB.down(heaps.vpu ?? 0)) --vpp \(MiB.down(heaps.vpp ?? 0))"
    }

    /// "NPU 3950 MiB, VPP 3072 MiB, VPU 2048 MiB" (an absent heap said as such, since that is a difference too).
    static func summary(_ heaps: DeviceHeaps) -> String {
        [("NPU", heaps.npu), ("VPP", heaps.vpp), ("VPU", heaps.vpu)].map { name, bytes in
            bytes.map { "\(name) \(MiB.down($0)) MiB" } ?? "no \(name) heap"
        }.joined(separator: ", ")
    }
}
