/// What is known about the board before a push: read by `DeploymentPusher`, judged by `PushPreflight`.
public struct BoardFacts: Sendable, Equatable {
    public var target: String
    /// `uname -m`.
    public var arch: String
    /// BM1684X, from the board profile or the live device tree; nil when neither says.
    public var chip: String?
    /// The board profile name (for the fix-memory command).
    public var boardProfile: String?
    /// The live ion heaps; nil when they could not be read (not root).
    public var liveHeaps: DeviceHeaps?
    /// The most any layout of this board can give the heaps; nil when the board's layout or profile is unknown.
    public var capacity: LayoutCapacity?
    /// The heaps /boot gives the board at its next reboot; nil when /boot was unreadable.
    public var configuredHeaps: DeviceHeaps?
    /// Free bytes on the file system of the remote directory.
    public var freeBytes: UInt64
    public var remoteDir: String

    public init(target: String, arch: String, chip: String?, boardProfile: String?, liveHeaps: DeviceHeaps?,
                capacity: LayoutCapacity? = nil, configuredHeaps: DeviceHeaps? = nil, freeBytes: UInt64, remoteDir: String) {
        self.target = target
        self.arch = arch
        self.chip = chip
        self.boardProfile = boardProfile
        self.liveHeaps = liveHeaps
        self.capacity = capacity
        self.configuredHeaps = configuredHeaps
        self.freeBytes = freeBytes
        self.remoteDir = remoteDir
    }
}

/// What the model asks of the board.
public struct ModelNeeds: Sendable, Equatable {
    /// Shown in messages: the profile name or the bmodel path.
    public var name: String
    /// What `fix-memory --for-model` takes: the profile name, else the bmodel path.
    public var fixMemoryArgument: String
    public var chip: String
    /// Device memory in all: weights, neuron memory, KV cache and the engine's buffers.
    public var totalBytes: UInt64
    /// Each allocation, when computed from the bmodel; nil when only a profile's total is known.
    public var memory: ModelMemoryNeed?

    /// The need computed from `model`'s nets. When the engine's buffers cannot be derived from them (a layout
    /// the engine does not know), the profile's figure is the floor.
    public init(model: BModel, path: String, profile: ModelProfile?) {
        name = profile?.name ?? path
        fixMemoryArgument = profile?.name ?? path
        chip = model.chip
        let memory = ModelMemoryNeed(model: model)
        totalBytes = memory.engineLayoutKnown ? memory.totalBytes : max(memory.totalBytes, profile?.npuMemoryBytes ?? 0)
        self.memory = memory.totalBytes == totalBytes ? memory : nil
    }

    public init(name: String, fixMemoryArgument: String, chip: String, totalBytes: UInt64, memory: ModelMemoryNeed? = nil) {
        self.name = name
        self.fixMemoryArgument = fixMemoryArgument
        self.chip = chip
        self.totalBytes = totalBytes
        self.memory = memory
    }
}

/// The checks made before a byte moves: the model's chip, its memory against the heaps, and free space. Pure.
public enum PushPreflight {
    /// Bytes that must fit on the board: what is still to send of each file. A kept temporary prefix counts as
    /// sent, since dropping it (when its hash is wrong) frees as much as it holds; old versions stay until each
    /// new file is verified and renamed, so their space is not counted as free.
    public static func bytesNeeded(sizes: [UInt64], keptPrefixes: [UInt64]) -> UInt64 {
        zip(sizes, keptPrefixes).reduce(0) { $0 + ($1.0 - min($1.0, $1.1)) } + (64 << 10)
    }

    /// Throws the first refusal; returns warnings for checks that could not be made. When /boot holds a layout
    /// the board has not rebooted into, the model must load on both; `allowPendingReboot` turns that refusal
    /// into a warning.
    public static func check(board: BoardFacts, model: ModelNeeds?, bytesNeeded: UInt64, allowPendingReboot: Bool = false) throws -> [String] {
        var warnings: [String] = []
        if let model {
            if let chip = board.chip {
                guard ChipName.runs(model: model.chip, on: chip) else {
                    throw PushError.wrongChip(model: model.name, modelChip: model.chip, boardChip: chip)
                }
            } else {
                warnings.append("the board's chip is unknown (no board profile, no chip in the live device tree): the bmodel's chip \(model.chip) was not checked")
            }
            let fix = "tpudeploy fix-memory --board \(board.boardProfile ?? "BOARD") --for-model \(shellWord(model.fixMemoryArgument))"
            if let heaps = board.liveHeaps {
                let fit = HeapFit(need: model.memory, totalBytes: model.totalBytes, heaps: heaps)
                let pending = PendingLayout(live: heaps, configured: board.configuredHeaps)
                let afterReboot = pending?.fits(model).afterReboot
                if fit.verdict == .cannotLoad {
                    if let line = board.capacity?.refusal(
                        model: model.name, needBytes: model.totalBytes, largestAllocationBytes: model.memory?.largestAllocationBytes)
                    {
                        throw PushError.noLayoutFits(reason: line)
                    }
                    guard let pending, let afterReboot, afterReboot.verdict != .cannotLoad else {
                        throw PushError.modelCannotLoad(model: model.name, reason: fit.refusalReason, fixCommand: fix)
                    }
                    guard allowPendingReboot else {
                        throw PushError.loadsOnlyAfterReboot(model: model.name, reason: fit.refusalReason, layouts: pending.layouts)
                    }
                    warnings.append("\(model.name) cannot load on the live heaps but will after the next reboot (\(pending.layouts)): \(PendingLayout.rebootAdvice) before `tpudeploy launch`")
                    return try warnings + spaceChecked(board, bytesNeeded)
                }
                if let pending, let afterReboot {
                    if afterReboot.verdict == .cannotLoad {
                        guard allowPendingReboot else {
                            throw PushError.fitsOnlyUntilReboot(
                                model: model.name, reason: afterReboot.refusalReason, layouts: pending.layouts, keepLiveAdvice: pending.keepLiveAdvice)
                        }
                        warnings.append("\(model.name) loads now but not after the next reboot: \(afterReboot.refusalReason) (\(pending.layouts)); to keep it loading, \(pending.keepLiveAdvice)")
                    } else {
                        warnings.append("/boot holds a layout the board has not rebooted into (\(pending.layouts)); \(model.name) loads on both")
                    }
                }
                if let spill = fit.spillWarning {
                    let advice = board.capacity?.spillAdvice(needBytes: model.totalBytes, fixCommand: fix).text ?? "for a cleaner layout run `\(fix)`"
                    warnings.append("\(model.name) will load, but \(spill); \(advice)")
                }
            } else {
                warnings.append("the live heaps could not be read (root or sudo -n is needed): whether \(model.name) fits (\(ByteCount.human(model.totalBytes))) was not checked")
            }
        }
        return try warnings + spaceChecked(board, bytesNeeded)
    }

    /// Free space is checked last: the memory refusals say more about what to do first.
    private static func spaceChecked(_ board: BoardFacts, _ bytesNeeded: UInt64) throws -> [String] {
        guard board.freeBytes >= bytesNeeded else {
            throw PushError.notEnoughSpace(target: board.target, directory: board.remoteDir, freeBytes: board.freeBytes, neededBytes: bytesNeeded)
        }
        return []
    }

    private static func shellWord(_ text: String) -> String {
        text.allSatisfy { $0.isLetter || $0.isNumber || "-_./+".contains($0) } ? text : shellQuoted(text)
    }
}
