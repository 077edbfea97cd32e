/// Whether a FIT boot image would pass U-Boot's own checks: it parses, every image's data lies inside the
/// file, and every `hash-N` node matches its data (U-Boot refuses to boot an image whose hash does not).
/// The same checks `fix-memory` makes before it edits an image, applied to every image, not only the dtb.
public enum BootImageHealth: Sendable, Equatable {
    case intact
    /// `reason` says which image or structure is wrong (from `FITError`).
    case damaged(reason: String)

    public var isIntact: Bool { self == .intact }

    /// Checks the image behind `source`: reads its structure, then each image's data once. A hash algorithm
    /// tpudeploy does not compute is left to U-Boot, as elsewhere. Throws only when the source itself fails
    /// (a lost link, a refused read): that is no verdict on the image.
    public static func check(_ source: any RandomAccessBytes) throws -> BootImageHealth {
        do {
            let fit = try FITImage(source: source)
            for image in fit.images {
                do { try fit.verifyHashes(of: image) } catch FITError.unsupportedHashAlgorithm {}
            }
            return .intact
        } catch let error as FITError {
            return .damaged(reason: Self.reason(error))
        } catch let error as DeviceTreeError {
            return .damaged(reason: "\(error)")
        } catch let error as ByteRangeError {
            return .damaged(reason: "\(error)")
        }
    }

    /// The warning `inspect` shows for a damaged `/boot/emmcboot.itb`: what is wrong, and what to do.
    public static func warning(path: String, reason: String) -> String {
        "\(path) is damaged (\(reason)): U-Boot will refuse to boot it, so do not reboot the board. "
            + "Run `tpudeploy fix-memory --rollback` to put back the newest intact backup (it is checked before it is installed)."
    }

    /// FITError texts end with advice for local files ("restore the backup boot image"); the callers give
    /// their own, so only the finding is kept.
    private static func reason(_ error: FITError) -> String {
        let text = "\(error)"
        for advice in ["; restore the backup boot image", "; copy it again or restore the backup", "; the file is damaged or truncated"] {
            if text.hasSuffix(advice) { return String(text.dropLast(advice.count)) }
        }
        return text
    }
}

extension BootImageHealth {
    /// Checks a boot image on the board, read over SFTP (the whole file once, in large reads).
    public static func check(_ path: String, on session: SSHSession) async throws -> BootImageHealth {
        try await session.withConnection { connection in
            try check(try SFTPFileReader(connection: connection, path: path))
        }
    }

    /// `inspect`'s line about the boot image: nil when it is intact, else what is wrong and what to do (or
    /// why it could not be checked).
    static func inspectionWarning(_ path: String, on session: SSHSession) async -> String? {
        do {
            guard case .damaged(let reason) = try await check(path, on: session) else { return nil }
            return warning(path: path, reason: reason)
        } catch {
            return "cannot check the hashes of \(path): \(error)"
        }
    }
}
