import TPUDeployKit

/// The DDR size of a simulated board, which picks the factory memory split its dtb includes.
public enum SimulatedRAM: String, Sendable, Codable, CaseIterable {
    case gb12 = "12g"
    case gb16 = "16g"
}

/// What `Simulator.up` builds: how many boards and what each of them boots.
public struct SimulatorOptions: Sendable, Codable, Equatable {
    /// How many boards to start.
    public var boards: Int = 1
    /// DDR size of the dtb the boards boot.
    public var ram: SimulatedRAM = .gb16
    /// File name (without `.dtb`) of the dtb the board boots, as in its `/info file-name`: one of the vendor dtbs
    /// of `SimulatorResources.vendorBoardDTBs`, which the board boots with that dtb's factory layout.
    public var dtbName: String = "bm1684x_evb_v0.0"
    /// Seconds between the boot-image check and sshd answering, on every boot.
    public var bootDelay: Double = 2
    /// Size of the board's `/boot` partition (a size-limited tmpfs), in MiB.
    public var bootPartitionMiB: Int = 128
    /// Size of the board's `/data` partition (a size-limited tmpfs: a full disk is reproducible), in MiB.
    public var dataPartitionMiB: Int = 4096
    /// Size of the stand-in kernel in the boot image, in KiB.
    public var kernelKiB: Int = 20480
    /// Size of the stand-in ramdisk in the boot image, in KiB.
    public var ramdiskKiB: Int = 8192
    /// Board names are this prefix followed by a number: `evb1`, `evb2`…
    public var namePrefix: String = "evb"
    /// The libsophon release (with its driver and kernel) the boards run; one of `SimulatedSoCImage.releases`.
    public var libsophonVersion: String = SimulatedSoCImage.defaultLibsophon

    public init() {}

    /// Throws when the options cannot make a board.
    func validate() throws {
        guard (1...64).contains(boards) else { throw SimulatorError.invalidOptions("boards must be 1…64, not \(boards)") }
        guard bootDelay >= 0, bootDelay <= 600 else { throw SimulatorError.invalidOptions("boot delay must be 0…600 s, not \(bootDelay)") }
        guard (4...4096).contains(bootPartitionMiB) else {
            throw SimulatorError.invalidOptions("the /boot partition must be 4…4096 MiB, not \(bootPartitionMiB)")
        }
        guard (1...65536).contains(dataPartitionMiB) else {
            throw SimulatorError.invalidOptions("the /data partition must be 1…65536 MiB, not \(dataPartitionMiB)")
        }
        guard kernelKiB >= 1, ramdiskKiB >= 1, kernelKiB + ramdiskKiB < bootPartitionMiB * 1024 else {
            throw SimulatorError.invalidOptions(
                "kernel (\(kernelKiB) KiB) and ramdisk (\(ramdiskKiB) KiB) must be at least 1 KiB and fit in the \(bootPartitionMiB) MiB /boot partition")
        }
        guard SimulatedSoCImage.release(libsophon: libsophonVersion) != nil else {
            let offered = SimulatedSoCImage.releases.map(\.libsophon).joined(separator: ", ")
            throw SimulatorError.invalidOptions("libsophon \(libsophonVersion) is not a release the simulator offers (\(offered))")
        }
        let safe = { (text: String) in !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) } }
        guard safe(dtbName) else { throw SimulatorError.invalidOptions("dtb name \"\(dtbName)\" may only hold letters, digits, '.', '_' and '-'") }
        let known = SimulatorResources.vendorBoardDTBs
        guard known.contains(where: { DTBName.same($0, dtbName) }) else {
            throw SimulatorError.invalidOptions("no simulated board boots \(dtbName).dtb; the vendor dtbs it knows: \(known.joined(separator: ", "))")
        }
        guard safe(namePrefix), namePrefix.count <= 20, namePrefix.first?.isLetter == true else {
            throw SimulatorError.invalidOptions("name prefix \"\(namePrefix)\" must start with a letter and hold at most 20 letters, digits, '.', '_' or '-'")
        }
    }
}
