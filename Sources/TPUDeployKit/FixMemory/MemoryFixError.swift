/// Why `fix-memory` stopped, and what state the board is in.
public enum MemoryFixError: Error, CustomStringConvertible, Sendable, Equatable {
    case unknownDTB(target: String)
    case boardMismatch(board: String, dtb: String, suggestion: String?)
    case noProfileForDTB(dtb: String, known: [String])
    case bootTooFull(freeBytes: UInt64, neededBytes: UInt64)
    case dataTooFull(freeBytes: UInt64, neededBytes: UInt64)
    case uploadInterrupted(reason: String)
    case uploadRefused(path: String, reason: String)
    case installFailed(reason: String)
    case boardDidNotReturn(target: String, seconds: Int, bootBackup: String, dataBackup: String)
    case verificationFailed(expected: String, live: String)
    case noBackup(directory: String)
    case installStateUnknown(reason: String)
    case liveHeapsUnknown(target: String)
    case rebootFailed(reason: String, bootBackup: String, dataBackup: String)
    /// The live boot image fails U-Boot's checks: fix-memory will not edit it.
    case bootImageDamaged(path: String, reason: String)
    /// Every backup `--rollback` could restore is damaged or missing; `skipped` says why each was passed over.
    case noIntactBackup(directory: String, liveImageDamaged: Bool, skipped: [String])

    public var description: String {
        switch self {
        case .unknownDTB(let target):
            return "\(target) does not say which dtb it booted (no /proc/device-tree/info/file-name): tpudeploy cannot tell which layout to edit."
        case .boardMismatch(let board, let dtb, let suggestion):
            return "this board booted \(dtb), which is not a dtb of board profile \(board)" + (suggestion.map { "; it looks like --board \($0)" } ?? "; check --board")
        case .noProfileForDTB(let dtb, let known):
            return "no board profile boots \(dtb); name one with --board (known: \(known.joined(separator: ", "))) or add a profile to Profiles/boards/."
        case .bootTooFull(let free, let needed):
            return "/boot has \(ByteCount.human(free)) free, but replacing emmcboot.itb safely needs \(ByteCount.human(needed)) (the new image beside the old one, plus a backup of the old one). Nothing was changed. Free space on /boot (old backups, unused files) and run again."
        case .dataTooFull(let free, let needed):
            return "/data has \(ByteCount.human(free)) free, but the backup of the boot image needs \(ByteCount.human(needed)). Nothing was changed. Free space on /data and run again."
        case .uploadInterrupted(let reason):
            return "the upload of the new boot image was interrupted (\(reason)). /boot/emmcboot.itb was not changed and the board boots as before; run the command again."
        case .uploadRefused(let path, let reason):
            return "the board refused the upload of the new boot image to \(path): \(reason). /boot/emmcboot.itb was not changed and the board boots as before; fix that (space, permissions) and run the command again."
        case .installFailed(let reason):
            return "the board refused the new boot image: \(reason)"
        case .boardDidNotReturn(let target, let seconds, let bootBackup, let dataBackup):
            return "\(target) did not come back within \(seconds) s after the reboot. The previous boot image is saved as \(bootBackup) on /boot and \(dataBackup). If the board answers later, `tpudeploy fix-memory --rollback` restores it; if it never does, restore it from U-Boot or a serial console (copy the backup over /boot/emmcboot.itb)."
        case .verificationFailed(let expected, let live):
            return "the board rebooted, but its live heaps are \(live) instead of the planned \(expected). `tpudeploy fix-memory --rollback` restores the previous layout."
        case .noBackup(let directory):
            return "nothing to roll back: no intact backup in \(directory) was replaced by the board's current boot image (it was not installed by fix-memory, or it was already rolled back)."
        case .installStateUnknown(let reason):
            return "lost contact while the new boot image was being installed (\(reason)); whether it was installed is unknown. Run `tpudeploy inspect`: the heap table shows which layout /boot holds. Do not reboot the board before you know."
        case .liveHeapsUnknown(let target):
            return "\(target) rebooted with the new boot image, but its live heap sizes could not be read (root or a sudo password is needed): check with `tpudeploy inspect` as root or with TPUDEPLOY_PASSWORD."
        case .bootImageDamaged(let path, let reason):
            return "\(path) on the board is damaged (\(reason)): U-Boot would refuse to boot it, and fix-memory does not edit a damaged image. Nothing was changed. Do not reboot the board: run `tpudeploy fix-memory --rollback` to put back the newest intact backup."
        case .noIntactBackup(let directory, let liveImageDamaged, let skipped):
            let why = skipped.isEmpty ? "" : " (" + skipped.joined(separator: "; ") + ")"
            if liveImageDamaged {
                return "/boot/emmcboot.itb is damaged and no intact backup is left in \(directory) or on /boot\(why). Nothing was changed. Do not reboot the board: copy a good emmcboot.itb for this board (the vendor's SDK image) over /boot/emmcboot.itb, then check it with `tpudeploy inspect`."
            }
            return "nothing was rolled back: every backup that would undo the last fix-memory is damaged or missing\(why). /boot/emmcboot.itb was not changed and the board boots as before."
        case .rebootFailed(let reason, let bootBackup, let dataBackup):
            return "the new boot image is installed, but rebooting failed: \(reason). The previous image is saved as \(bootBackup) and \(dataBackup); reboot the board by hand (sudo reboot) and check with `tpudeploy inspect`."
        }
    }
}

extension MemoryFixError: CodedError {
    public var errorCode: String {
        switch self {
        case .unknownDTB: return "dtb_unknown"
        case .boardMismatch: return "board_profile_mismatch"
        case .noProfileForDTB: return "no_board_profile"
        case .bootTooFull: return "boot_full"
        case .dataTooFull: return "data_full"
        case .uploadInterrupted: return "boot_image_upload_interrupted"
        case .uploadRefused: return "boot_image_upload_refused"
        case .installFailed: return "boot_image_install_failed"
        case .boardDidNotReturn: return "board_not_back"
        case .verificationFailed: return "layout_not_applied"
        case .noBackup: return "no_backup"
        case .installStateUnknown: return "install_state_unknown"
        case .liveHeapsUnknown: return "live_heaps_unknown"
        case .rebootFailed: return "reboot_failed"
        case .bootImageDamaged: return "boot_image_damaged"
        case .noIntactBackup: return "no_intact_backup"
        }
    }

    /// The board did not come back after its reboot: a fleet's `not_back`, with its backups named.
    public var meansBoardNotBack: Bool {
        if case .boardDidNotReturn = self { return true }
        return false
    }

    /// Nothing on the board changed and the cause was the link.
    public var isRetryable: Bool {
        if case .uploadInterrupted = self { return true }
        return false
    }
}
