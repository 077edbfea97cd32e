extension BoardReport {
    /// The live ion heaps, as the runtime will find them; nil when they could not be read.
    public var liveHeaps: DeviceHeaps? {
        guard liveHeapsKnown else { return nil }
        func live(_ name: String) -> UInt64? { heaps.first { $0.name == name }?.liveBytes }
        return DeviceHeaps(npu: live("npu"), vpp: live("vpp"), vpu: live("vpu"))
    }

    /// The heaps as /boot configures them (what the board runs after its next reboot); nil when /boot was unreadable.
    public var configuredHeaps: DeviceHeaps? {
        guard bootImage != nil else { return nil }
        func configured(_ name: String) -> UInt64? { heaps.first { $0.name == name }?.configuredBytes }
        return DeviceHeaps(npu: configured("npu"), vpp: configured("vpp"), vpu: configured("vpu"))
    }

    /// What any layout of this board can give the heaps, from the configured layout (the heaps and Linux share
    /// the same DDR in every layout); nil when /boot was unreadable.
    public func layoutCapacity(minimumLinuxMiB: UInt64) -> LayoutCapacity? {
        guard bootImage != nil, let linuxBytes = linux.configuredBytes else { return nil }
        let heapBytes = heaps.reduce(0) { $0 + ($1.configuredBytes ?? 0) }
        return LayoutCapacity(sharedBytes: linuxBytes + heapBytes, limits: layoutLimits, minimumLinuxMiB: minimumLinuxMiB)
    }
}
