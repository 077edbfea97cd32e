/// Whether a model fits the board's NPU heap, and the command that fixes it when it does not.
public struct MemoryDiagnosis: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable {
        /// The live NPU heap holds the model.
        case fits
        /// The boot image already has a large enough heap; the board has not rebooted into it.
        case rebootPending = "reboot_pending"
        /// The heap is too small: run `fixCommand`.
        case tooSmall = "too_small"
        /// The NPU heap size is not known (see the report's warnings).
        case unknown
    }

    public var model: String
    public var neededBytes: UInt64
    public var npuHeapBytes: UInt64?
    public var verdict: Verdict
    public var message: String
    /// The command to run, when there is one.
    public var fixCommand: String?

    /// Compares the model's need with the live NPU heap (falling back to the configured one).
    public init(model: ModelProfile, liveNPUBytes: UInt64?, configuredNPUBytes: UInt64?, boardProfile: String?) {
        self.model = model.name
        neededBytes = model.npuMemoryBytes
        npuHeapBytes = liveNPUBytes ?? configuredNPUBytes
        let need = ByteCount.human(model.npuMemoryBytes)
        let board = boardProfile ?? "BOARD"
        let fix = "tpudeploy fix-memory --board \(board) --for-model \(model.name)"
        guard let heap = npuHeapBytes else {
            verdict = .unknown
            message = "NPU heap size unknown, so cannot tell whether \(model.name) (needs \(need)) fits"
            fixCommand = nil
            return
        }
        if heap >= model.npuMemoryBytes {
            if liveNPUBytes == nil {
                verdict = .unknown
                message = "configured NPU heap \(ByteCount.human(heap)) holds \(model.name) (needs \(need)); the live heap could not be read"
                fixCommand = nil
            } else {
                verdict = .fits
                message = "NPU heap \(ByteCount.human(heap)) holds \(model.name) (needs \(need))"
                fixCommand = nil
            }
        } else if let configured = configuredNPUBytes, configured >= model.npuMemoryBytes {
            verdict = .rebootPending
            message = "NPU heap \(ByteCount.human(heap)) < \(need) needed by \(model.name), but /boot already configures \(ByteCount.human(configured)): reboot the board (sudo reboot) to apply it"
            fixCommand = "sudo reboot"
        } else {
            verdict = .tooSmall
            message = "NPU heap \(ByteCount.human(heap)) < \(need) needed by \(model.name): run `\(fix)`"
            fixCommand = fix
        }
    }
}
