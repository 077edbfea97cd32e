/// Whether a model loads on the board's heaps, and the command that fixes it when it does not.
public struct MemoryDiagnosis: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable {
        /// The live NPU heap holds the model.
        case fits
        /// The model loads, but the runtime puts part of it in the VPP/VPU heaps (video decoding loses them).
        case spills
        /// The boot image already has a layout that holds it; the board has not rebooted into it.
        case rebootPending = "reboot_pending"
        /// The live heaps hold it, but the boot image has a layout that does not: it stops loading at the next reboot.
        case fitsUntilReboot = "fits_until_reboot"
        /// The live heaps cannot hold it: run `fixCommand`.
        case tooSmall = "too_small"
        /// No layout of this board can hold it (an int4 build or a PCIe card can).
        case fitsNoLayout = "fits_no_layout"
        /// The heap sizes are not known (see the report's warnings).
        case unknown
    }

    public var model: String
    /// Device memory in all: weights, neuron memory, KV cache and the engine's buffers.
    public var neededBytes: UInt64
    public var npuHeapBytes: UInt64?
    /// NPU + VPP + VPU as the runtime can use them (it allocates from all three on SoC).
    public var usableHeapBytes: UInt64?
    public var verdict: Verdict
    public var message: String
    /// The command to run, when there is one.
    public var fixCommand: String?

    /// Judges the model's need against the live heaps (falling back to the configured ones) and, when the board's
    /// capacity is known, against every layout the board allows.
    public init(model: ModelProfile, live: DeviceHeaps?, configured: DeviceHeaps?, capacity: LayoutCapacity?, boardProfile: String?) {
        self.init(model: ModelNeeds(name: model.name, fixMemoryArgument: model.name, chip: model.chip, totalBytes: model.npuMemoryBytes),
                  live: live, configured: configured, capacity: capacity, boardProfile: boardProfile)
    }

    /// The same judgement for a need computed from a bmodel file: each allocation must fit a heap, as push checks.
    public init(model: ModelNeeds, live: DeviceHeaps?, configured: DeviceHeaps?, capacity: LayoutCapacity?, boardProfile: String?) {
        self.model = model.name
        let need = model.totalBytes
        let allocations = model.memory
        neededBytes = need
        let heaps = live ?? configured
        npuHeapBytes = heaps?.npu
        usableHeapBytes = heaps.map { $0.triedInOrder.reduce(0) { $0 + $1.bytes } }
        let needText = MiB.text(need)
        let fix = "tpudeploy fix-memory --board \(boardProfile ?? "BOARD") --for-model \(model.fixMemoryArgument)"
        fixCommand = nil
        if let line = capacity?.refusal(model: model.name, needBytes: need, largestAllocationBytes: allocations?.largestAllocationBytes) {
            verdict = .fitsNoLayout
            message = line
            return
        }
        guard let heaps else {
            verdict = .unknown
            message = "heap sizes unknown, so cannot tell whether \(model.name) (needs \(needText)) fits"
            return
        }
        let fit = HeapFit(need: allocations, totalBytes: need, heaps: heaps)
        let source = live == nil ? "configured" : "live"
        let pending = PendingLayout(live: live, configured: configured)
        if let pending, fit.verdict != .cannotLoad,
            case let next = HeapFit(need: allocations, totalBytes: need, heaps: pending.configured), next.verdict == .cannotLoad
        {
            verdict = .fitsUntilReboot
            message = "\(model.name) loads on the live heaps, but not after the next reboot: /boot holds a layout the board has not rebooted into, on which \(next.refusalReason) (\(pending.layouts)). To keep it loading, \(pending.keepLiveAdvice)"
            fixCommand = "tpudeploy fix-memory \(PendingLayout.fixMemoryArguments(pending.live)) --no-reboot"
            return
        }
        switch fit.verdict {
        case .fitsNPU where live != nil:
            verdict = .fits
            message = "NPU heap \(MiB.down(heaps.npu ?? 0)) MiB holds \(model.name) (needs \(needText))"
        case .spills where live != nil:
            verdict = .spills
            let advice = capacity?.spillAdvice(needBytes: need, fixCommand: fix) ?? ("for a cleaner layout run `\(fix)`", fix)
            message = "\(model.name) will load, but \(fit.spillWarning ?? ""); \(advice.text)"
            fixCommand = advice.fixCommand
        case .fitsNPU, .spills:
            verdict = .unknown
            message = "the configured heaps (\(fit.heapSummary)) hold \(model.name) (needs \(needText)); the live heaps could not be read"
        case .cannotLoad:
            if live != nil, let configured, HeapFit(need: allocations, totalBytes: need, heaps: configured).verdict != .cannotLoad {
                verdict = .rebootPending
                message = "\(model.name) cannot load on the live heaps, but /boot already configures heaps that hold it (\(PendingLayout.summary(live ?? heaps)) live; \(PendingLayout.summary(configured)) after the next reboot): \(PendingLayout.rebootAdvice)"
                fixCommand = "sudo reboot"
            } else {
                verdict = .tooSmall
                message = "\(model.name) cannot load on the \(source) heaps: \(fit.refusalReason). Run `\(fix)`"
                fixCommand = fix
            }
        }
    }
}
