/// A heap request that cannot be planned or applied. The first cases are the refusals of Sophgo's memory_edit.sh,
/// the others are tpudeploy's own checks on top of them; each text says what to ask for instead.
public enum MemoryPlanError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The heap does not fit where memory_edit.sh puts it ("npu size … error").
    case tooLarge(heap: IONHeapKind, requestedMiB: UInt64, maxMiB: UInt64)
    /// With the vpu heap removed, a vpp heap this size leaves exactly 128 MiB below it in bank 0x4; memory_edit.sh then
    /// computes a negative address for the 128 MiB VPU firmware region (`vpu_mem`) and writes it past the bank.
    case vpuFirmwareDoesNotFit(vppMiB: UInt64)
    /// A planned region would overlap another reserved region.
    case overlap(region: String, range: AddressRange, other: String, otherRange: AddressRange)
    /// A planned region would not lie inside the DDR banks (contiguous banks count as one).
    case outsideBank(region: String, range: AddressRange)
    /// A planned region would not start and end on a 1 MiB boundary.
    case notMiBAligned(region: String, range: AddressRange)
    /// Linux would keep less DRAM than asked for (`BoardMemoryLayout.linuxBytes`, in MiB).
    case linuxBelowMinimum(leftMiB: UInt64, minimumMiB: UInt64)
    /// The dtb is not one memory_edit.sh supports (no TPU node, no vdec node, unknown DDR banks, …).
    case unsupportedLayout(reason: String)
    /// After the edits a `memory-region` would point to a phandle no node has.
    case danglingPhandle(path: String, phandle: UInt32)
    /// The dtb given to `apply` is not the one the plan was made for.
    case planDoesNotMatchTree(reason: String)
    /// The dtb's memory description could not be read.
    case layout(MemoryLayoutError)
    /// The dtb could not be read or edited.
    case deviceTree(DeviceTreeError)

    public var description: String {
        switch self {
        case .tooLarge(let heap, let requested, let max):
            return "\(heap.rawValue) heap of \(requested) MiB does not fit: this board allows at most \(max) MiB"
        case .vpuFirmwareDoesNotFit(let vpp):
            return "with the vpu heap removed, a vpp heap of \(vpp) MiB leaves no room for the 128 MiB VPU firmware "
                + "region below it (Sophgo's memory_edit.sh would write it past the end of bank 0x4); ask for at most "
                + "\(vpp - 1) MiB, or at least \(vpp + 1) MiB so that the firmware region moves to bank 0x3"
        case .overlap(let region, let range, let other, let otherRange):
            return "\(region) (\(AddressText.range(range))) would overlap \(other) (\(AddressText.range(otherRange))); "
                + "the board dtb reserves that memory for something else, choose smaller heaps"
        case .outsideBank(let region, let range):
            return "\(region) (\(AddressText.range(range))) would not lie inside the board's DDR banks; choose smaller heaps"
        case .notMiBAligned(let region, let range):
            return "\(region) (\(AddressText.range(range))) would not be aligned to 1 MiB; the board dtb's fixed "
                + "regions (armfw_mem, arm_mem, smmu_mem) are not whole MiB, which tpudeploy does not support"
        case .linuxBelowMinimum(let left, let minimum):
            return "these heaps would leave Linux \(left) MiB of DRAM, less than the \(minimum) MiB minimum; "
                + "choose smaller heaps or lower the minimum"
        case .unsupportedLayout(let reason):
            return "this board dtb is not one Sophgo's memory_edit.sh supports, so tpudeploy will not edit it: \(reason)"
        case .danglingPhandle(let path, let phandle):
            return "after the edits \(path) would refer to phandle \(HexText.number(phandle)), which no node has"
        case .planDoesNotMatchTree(let reason):
            return "the memory plan was made for another dtb (\(reason)); plan again on the current boot image"
        case .layout(let error):
            return error.description
        case .deviceTree(let error):
            return error.description
        }
    }
}

extension MemoryPlanError: CodedError {
    public var errorCode: String {
        switch self {
        case .tooLarge: return "heap_too_large"
        case .vpuFirmwareDoesNotFit: return "vpu_firmware_does_not_fit"
        case .overlap: return "plan_overlap"
        case .outsideBank: return "plan_outside_bank"
        case .notMiBAligned: return "plan_not_aligned"
        case .linuxBelowMinimum: return "linux_below_minimum"
        case .unsupportedLayout: return "unsupported_layout"
        case .danglingPhandle: return "dangling_phandle"
        case .planDoesNotMatchTree: return "plan_does_not_match_tree"
        case .layout(let error): return error.errorCode
        case .deviceTree(let error): return error.errorCode
        }
    }
}
