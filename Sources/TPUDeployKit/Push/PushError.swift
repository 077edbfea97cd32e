/// Why `push` stopped. Pre-flight errors are raised before a byte moves.
public enum PushError: Error, CustomStringConvertible, Sendable, Equatable {
    case localFileUnreadable(path: String, reason: String)
    case localFileChanged(path: String)
    case duplicateName(name: String)
    case notEnoughSpace(target: String, directory: String, freeBytes: UInt64, neededBytes: UInt64)
    case wrongChip(model: String, modelChip: String, boardChip: String)
    case modelCannotLoad(model: String, reason: String, fixCommand: String)
    case noLayoutFits(reason: String)
    /// Loads on the live heaps, but not on the ones /boot gives the board at its next reboot.
    case fitsOnlyUntilReboot(model: String, reason: String, layouts: String, keepLiveAdvice: String)
    /// Cannot load on the live heaps, but /boot already holds a layout that holds it.
    case loadsOnlyAfterReboot(model: String, reason: String, layouts: String)
    case tokenizerMismatch(tokenizer: String, model: String, detail: String)
    case engineMissing(arch: String, searched: [String])
    case engineNotExecutable(path: String, reason: String)
    case engineWrongArchitecture(path: String, engineMachine: String, boardArch: String, boardMachine: String)
    case coefficientsDamaged(model: String, mismatches: [CoefficientMismatch])
    case tokenizerUnreadable(path: String, reason: String)
    case modelFamilyMismatch(model: String, profile: String, family: String, detail: String)
    case remoteDirectoryUnusable(target: String, directory: String, reason: String)
    /// Logged in as root, the deployment directory or the one above it is another user's (or writable by others):
    /// root writing there could be made to write wherever that user's links point.
    case directoryNotRootsAlone(target: String, directory: String, path: String, owner: String)
    case hashMismatch(target: String, path: String, expected: String, actual: String)
    case interrupted(file: String, reason: String)
    case remoteCommandFailed(target: String, what: String, output: String)

    public var description: String {
        switch self {
        case .localFileUnreadable(let path, let reason):
            return "cannot read \(path): \(reason). Check the path (--model/--tokenizer/--engine or deployment: in tpudeploy.yaml)."
        case .localFileChanged(let path):
            return "\(path) changed while it was being sent; the board's copy was discarded. Push again once the file is complete."
        case .duplicateName(let name):
            return "two payload files would both be called \(name) on the board; rename one of them."
        case .notEnoughSpace(let target, let directory, let free, let needed):
            return "\(directory) on \(target) has \(ByteCount.human(free)) free, but this push needs \(ByteCount.human(needed)) (the new files beside the old ones until each is verified). Nothing was sent. Free space on the board (old models, backups) or choose another --remote-dir."
        case .wrongChip(let model, let modelChip, let boardChip):
            return "\(model) was compiled for \(modelChip), but the board is a \(boardChip). Nothing was sent. Recompile it for \(boardChip) (tpu-mlir --chip \(boardChip.lowercased()))."
        case .modelCannotLoad(let model, let reason, let fix):
            return "\(model) cannot load on this board's live heaps: \(reason). Nothing was sent. Run `\(fix)` first, then push again."
        case .noLayoutFits(let reason):
            return "\(reason) Nothing was sent."
        case .fitsOnlyUntilReboot(let model, let reason, let layouts, let keep):
            return "\(model) loads on the live heaps, but /boot holds a layout the board has not rebooted into, and on that one \(model) cannot load: \(reason). Heaps: \(layouts). Nothing was sent. Either \(keep), then push again; or, if the next reboot's layout is the one you want, \(PendingLayout.rebootAdvice) and push a model that fits it. --allow-pending-reboot pushes anyway."
        case .loadsOnlyAfterReboot(let model, let reason, let layouts):
            return "\(model) cannot load on the live heaps (\(reason)), but /boot already holds a layout that holds it and the board has not rebooted into it. Heaps: \(layouts). Nothing was sent. First \(PendingLayout.rebootAdvice), then push again (or pass --allow-pending-reboot to push now and reboot before launch)."
        case .tokenizerMismatch(let tokenizer, let model, let detail):
            return "\(tokenizer) does not belong to \(model): \(detail). Nothing was sent. Pass the tokenizer shipped with this model (--tokenizer)."
        case .engineMissing(let arch, let searched):
            return "no tpu-llm-engine build for \(arch) (looked at \(searched.joined(separator: ", "))). Run `make cross` to build Payloads/\(arch)/tpu-llm-engine, or pass --engine PATH."
        case .engineNotExecutable(let path, let reason):
            return "\(path) is not an engine executable: \(reason). Nothing was sent. Pass the tpu-llm-engine build for the board (--engine PATH, or `make cross` for Payloads/aarch64/tpu-llm-engine)."
        case .engineWrongArchitecture(let path, let engineMachine, let boardArch, let boardMachine):
            return "\(path) is built for \(engineMachine), but the board runs \(boardArch) (\(boardMachine)): it could not start there. Nothing was sent. Pass the engine built for \(boardArch) with --engine PATH, or leave --engine out: push then takes \(boardArch == EngineSource.hostArch ? "this machine's own build (`swift build`), as the board runs its architecture" : "Payloads/\(boardArch)/tpu-llm-engine (`make cross` builds it for aarch64)")."
        case .coefficientsDamaged(let model, let mismatches):
            let first = mismatches[0]
            let range = first.range
            let more = mismatches.count > 1 ? " (and \(mismatches.count - 1) more range\(mismatches.count > 2 ? "s" : ""))" : ""
            return "\(model) is damaged: the weights of net \(range.nets.joined(separator: ", ")) (blob bytes \(range.start)–\(range.start + range.size), \(ByteCount.human(range.size))) do not match their check_code\(more): sha256 \(first.actual.prefix(16))…, the bmodel says \(Digest.hex(range.checkCode).prefix(16))…. Nothing was installed on the board. Copy or download the bmodel again, or recompile it."
        case .tokenizerUnreadable(let path, let reason):
            return "\(path) is not a tokenizer tpudeploy can read: \(reason). Nothing was sent. Pass the model's sentencepiece tokenizer.model (or its vocab.json) with --tokenizer."
        case .modelFamilyMismatch(let model, let profile, let family, let detail):
            return "\(model) does not look like a \(family) model, which the profile \(profile) says it is: \(detail). Nothing was sent. Pass the profile of this model (--profile), or the bmodel the profile describes."
        case .remoteDirectoryUnusable(let target, let directory, let reason):
            return "cannot use \(directory) on \(target): \(reason). Pass --remote-dir DIR the login user may write, or create it: sudo mkdir -p \(directory) && sudo chown $USER \(directory)."
        case .directoryNotRootsAlone(let target, let directory, let path, let owner):
            return "will not write \(directory) on \(target) as root: \(path) can be changed by \(owner), who could point root's writes at any file through a link. Nothing was sent. Push as that user (--user), or make the directory root's alone: sudo chown root:root \(path) && sudo chmod go-w \(path)."
        case .hashMismatch(let target, let path, let expected, let actual):
            return "\(path) on \(target) does not match what was sent, even after sending it again (sha256 \(actual), expected \(expected)). The board's storage may be failing; nothing was put under the final name."
        case .interrupted(let file, let reason):
            return "the push stopped while sending \(file): \(reason)"
        case .remoteCommandFailed(let target, let what, let output):
            return "\(target): \(what) failed: \(output)"
        }
    }
}

extension PushError: CodedError {
    public var errorCode: String {
        switch self {
        case .localFileUnreadable: return "local_file_unreadable"
        case .localFileChanged: return "local_file_changed"
        case .duplicateName: return "payload_duplicate_name"
        case .notEnoughSpace: return "not_enough_space"
        case .wrongChip: return "model_wrong_chip"
        case .modelCannotLoad: return "model_does_not_fit"
        case .noLayoutFits: return "no_layout_fits"
        case .fitsOnlyUntilReboot: return "fits_only_until_reboot"
        case .loadsOnlyAfterReboot: return "loads_only_after_reboot"
        case .tokenizerMismatch: return "tokenizer_mismatch"
        case .engineMissing: return "engine_missing"
        case .engineNotExecutable: return "engine_not_executable"
        case .engineWrongArchitecture: return "engine_wrong_architecture"
        case .coefficientsDamaged: return "model_damaged"
        case .tokenizerUnreadable: return "tokenizer_unreadable"
        case .modelFamilyMismatch: return "model_family_mismatch"
        case .remoteDirectoryUnusable: return "remote_dir_unusable"
        case .directoryNotRootsAlone: return "remote_dir_not_roots_alone"
        case .hashMismatch: return "hash_mismatch"
        case .interrupted: return "push_interrupted"
        case .remoteCommandFailed: return "board_command_failed"
        }
    }

    /// An interrupted push resumes; a file that changed while it was read may be complete next time.
    public var isRetryable: Bool {
        switch self {
        case .interrupted, .localFileChanged: return true
        default: return false
        }
    }
}
