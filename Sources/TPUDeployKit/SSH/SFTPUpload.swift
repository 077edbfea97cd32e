import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why an upload stopped. The cases are the ones a person acts on differently.
public enum UploadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The link died under the upload (lost or silent past the stall limit): the board is unreachable, as for
    /// `SSHError.meansUnreachable`, not failed.
    public var meansUnreachable: Bool {
        switch self {
        case .connectionLost, .linkStalled: return true
        default: return false
        }
    }

    /// The board refused to create or write the file.
    case permissionDenied(target: String, path: String)
    /// The file system on the board is full (confirmed by `df` after a failed write).
    case noSpace(target: String, path: String, freeBytes: UInt64, neededBytes: UInt64)
    /// The SSH connection went away; the bytes the board acknowledged stay in the temporary file.
    case connectionLost(target: String, path: String, acknowledgedBytes: UInt64, reason: String)
    /// Nothing came back from the board for `seconds` (the stall limit): the link is taken for dead; the bytes
    /// the board acknowledged stay in the temporary file.
    case linkStalled(target: String, path: String, acknowledgedBytes: UInt64, seconds: Int)
    /// The board's SFTP server answered with another failure.
    case failed(target: String, path: String, reason: String)
    /// The local file could not be read.
    case localFile(path: String, reason: String)
    /// The caller cancelled the upload.
    case cancelled(path: String)

    public var description: String {
        switch self {
        case .permissionDenied(let target, let path):
            return "\(target) refused to write \(path) (permission denied). Choose a directory the login user may write (--remote-dir), or create it: sudo mkdir -p DIR && sudo chown USER DIR."
        case .noSpace(let target, let path, let free, let needed):
            return "the file system of \(path) on \(target) is full: \(ByteCount.human(free)) free, \(ByteCount.human(needed)) still to write. Free space on the board (old models under /data) and push again; what was sent is kept and resumes."
        case .connectionLost(let target, let path, let acknowledged, let reason):
            return "the connection to \(target) was lost while writing \(path) (\(ByteCount.human(acknowledged)) acknowledged): \(reason). Push again: the upload resumes where it stopped."
        case .linkStalled(let target, let path, let acknowledged, let seconds):
            return "the link to \(target) was lost while writing \(path): nothing came back from the board for \(seconds) s (\(ByteCount.human(acknowledged)) acknowledged). Check the board's power and network cable, then push again: the upload resumes where it stopped."
        case .failed(let target, let path, let reason):
            return "\(target): writing \(path) over SFTP failed: \(reason)."
        case .localFile(let path, let reason):
            return "cannot read \(path): \(reason)."
        case .cancelled(let path):
            return "the upload of \(path) was cancelled; push again to resume it."
        }
    }
}

/// Says whether an upload should stop; checked between requests.
public typealias UploadCancellation = @Sendable () -> Bool

/// How an upload is sent: request size and how many requests are in flight.
public struct UploadTuning: Sendable, Equatable {
    /// Bytes per SFTP write request. OpenSSH's sftp-server accepts messages up to 256 KiB.
    public var requestBytes: Int = 128 * 1024
    /// Write requests sent before the first answer is awaited.
    public var requestsInFlight: Int = 32
    public init(requestBytes: Int = 128 * 1024, requestsInFlight: Int = 32) {
        self.requestBytes = requestBytes
        self.requestsInFlight = requestsInFlight
    }
}

/// What one upload did.
public struct UploadOutcome: Sendable, Equatable {
    /// Bytes sent in this call (acknowledged by the board).
    public var bytesSent: UInt64
    /// Bytes of the remote file after the call: `startOffset + bytesSent`.
    public var remoteSize: UInt64
    public var seconds: Double
    /// What the companion command printed; nil when none was asked for, or it did not end in time.
    public var companionResult: CommandResult?
}

/// Extra work done beside an upload.
public struct UploadCompanions: Sendable {
    /// Gets every chunk of the local file in file order, as it is sent (to hash it while sending).
    public var chunkObserver: (@Sendable (UnsafeRawBufferPointer) -> Void)?
    /// A shell command started on the board once the remote file is open (after its truncation), running while
    /// the bytes arrive; its output is collected after the last write is acknowledged.
    public var command: String?
    /// How long to wait for the command after the upload, in seconds.
    public var commandTimeout: Double

    public init(chunkObserver: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil, command: String? = nil, commandTimeout: Double = 300) {
        self.chunkObserver = chunkObserver
        self.command = command
        self.commandTimeout = commandTimeout
    }
}

extension SSHConnection {
    /// Uploads the local file `localPath` to `remotePath` from byte `offset` on, with many SFTP write requests
    /// in flight, so that the link rather than the round trip sets the speed.
    ///
    /// libssh 0.10 has no asynchronous SFTP write (`sftp_write` waits for each answer), so this speaks the
    /// SFTP v3 protocol itself on its own `sftp` subsystem channel: OPEN, then a window of WRITE requests
    /// whose STATUS answers are collected as they arrive, then CLOSE. With `offset` 0 the remote file is
    /// created or truncated; otherwise it is opened for writing at `offset` (the caller has verified that the
    /// bytes before `offset` are right). `progress` gets (acknowledged bytes of the whole file, file size).
    /// `companions` run beside the upload; a companion command that fails or overruns only leaves
    /// `companionResult` nil.
    public func uploadFile(
        _ localPath: String, to remotePath: String, from offset: UInt64 = 0, mode: mode_t = 0o644,
        tuning: UploadTuning = UploadTuning(), progress: TransferProgress? = nil, cancelled: UploadCancellation? = nil,
        companions: UploadCompanions = UploadCompanions()
    ) throws -> UploadOutcome {
        let descriptor = Glibc.open(localPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw UploadError.localFile(path: localPath, reason: String(cString: strerror(errno))) }
        defer { Glibc.close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw UploadError.localFile(path: localPath, reason: String(cString: strerror(errno))) }
        let size = UInt64(status.st_size)
        guard offset <= size else {
            throw UploadError.localFile(path: localPath, reason: "resume offset \(offset) is past its end (\(size) bytes)")
        }
        var buffer = [UInt8](repeating: 0, count: tuning.requestBytes)
        return try sendFile(
            size: size, to: remotePath, from: offset, mode: mode, tuning: tuning, progress: progress, cancelled: cancelled,
            companions: companions
        ) { position, length, send in
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, length, off_t(position)) }
            guard got == length else {
                throw UploadError.localFile(path: localPath, reason: got < 0 ? String(cString: strerror(errno)) : "the file shrank while it was being sent")
            }
            try buffer.withUnsafeBytes { try send(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        }
    }

    /// The upload of `size` bytes to `remotePath` from `offset` on, as `uploadFile` describes; `chunk` hands the
    /// bytes of each range (start, length) to `send`. Every wait for the board ends at the stall limit.
    func sendFile(
        size: UInt64, to remotePath: String, from offset: UInt64, mode: mode_t, tuning: UploadTuning,
        progress: TransferProgress?, cancelled: UploadCancellation?, companions: UploadCompanions,
        chunk: (_ start: UInt64, _ length: Int, _ send: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws -> UploadOutcome {
        let started = Date()
        let channel: SFTPChannel
        do { channel = try SFTPChannel(connection: self, path: remotePath) } catch let error as SSHError { throw self.uploadError(error, remotePath) }
        defer { channel.free() }
        var next = offset
        var acknowledged = offset
        var inFlight: [UInt32: Int] = [:]
        func uploadError(_ failure: SFTPChannel.Failure) -> UploadError {
            switch failure {
            case .lost(let reason):
                return .connectionLost(target: target.displayName, path: remotePath, acknowledgedBytes: acknowledged - offset, reason: reason)
            case .stalled(let seconds):
                return .linkStalled(target: target.displayName, path: remotePath, acknowledgedBytes: acknowledged - offset, seconds: seconds)
            }
        }
        let handle: [UInt8]
        do {
            try channel.start()
            handle = try channel.open(truncate: offset == 0, mode: mode)
        } catch let failure as SFTPChannel.Failure {
            throw uploadError(failure)
        }
        // Optional: without it (sshd's MaxSessions reached, say) the board reads the file back instead.
        let companion = companions.command.flatMap { try? start($0) }
        defer { companion?.close() }
        /// Takes the answers that have arrived (waiting for one when `waitForOne`) and reports progress if any did.
        func collectAnswers(waitForOne: Bool) throws {
            var answered = false
            while let reply = try channel.nextStatus(wait: waitForOne && !answered) {
                answered = true
                guard let length = inFlight.removeValue(forKey: reply.id) else {
                    throw UploadError.failed(target: target.displayName, path: remotePath, reason: "the SFTP server answered request \(reply.id), which was not sent")
                }
                guard reply.code == SFTPChannel.statusOK else {
                    throw channel.error(for: reply)
                }
                acknowledged += UInt64(length)
            }
            if answered { progress?(Int(acknowledged), Int(size)) }
        }
        do {
            while acknowledged < size {
                if cancelled?() == true { throw UploadError.cancelled(path: remotePath) }
                while next < size && inFlight.count < tuning.requestsInFlight {
                    let length = Int(min(UInt64(tuning.requestBytes), size - next))
                    try chunk(next, length) { bytes in
                        companions.chunkObserver?(bytes)
                        inFlight[try channel.sendWrite(handle: handle, offset: next, bytes: bytes)] = length
                    }
                    next += UInt64(length)
                }
                // Answers are taken only once the window is full, never between writes: polling libssh (0.10.6)
                // right after a write, before any blocking read, lost an answer now and then under CPU load and
                // the upload waited forever (2 hangs in ~20 test runs under CPU load; none in 10 such runs of this order).
                // The cost: on a slow link progress and Ctrl-C move a window (4 MiB) at a time.
                try collectAnswers(waitForOne: true)
            }
            try channel.close(handle: handle)
        } catch let failure as SFTPChannel.Failure {
            throw uploadError(failure)
        }
        let seconds = Date().timeIntervalSince(started)
        var companionResult: CommandResult?
        do { companionResult = try companion?.finish(timeout: companions.commandTimeout) } catch {
            // The upload itself is whole and acknowledged; a lost connection shows in the caller's next step.
            companionResult = nil
        }
        return UploadOutcome(bytesSent: acknowledged - offset, remoteSize: acknowledged, seconds: seconds, companionResult: companionResult)
    }
}

extension SSHConnection {
    /// An SSH error met before the first byte of `path` was sent, as the upload's own error.
    fileprivate func uploadError(_ error: SSHError, _ path: String) -> UploadError {
        switch error {
        case .linkStalled(let name, let seconds): return .linkStalled(target: name, path: path, acknowledgedBytes: 0, seconds: seconds)
        case .connectionLost(let name, let reason): return .connectionLost(target: name, path: path, acknowledgedBytes: 0, reason: reason)
        default: return .failed(target: target.displayName, path: path, reason: "\(error)")
        }
    }
}

extension UploadError: CodedError {
    public var errorCode: String {
        switch self {
        case .permissionDenied: return "upload_permission_denied"
        case .noSpace: return "not_enough_space"
        case .connectionLost: return "connection_lost"
        case .linkStalled: return "link_stalled"
        case .failed: return "upload_failed"
        case .localFile: return "local_file_unreadable"
        case .cancelled: return "cancelled"
        }
    }

    /// A transfer cut by the link resumes where it stopped when tried again.
    public var isRetryable: Bool {
        switch self {
        case .connectionLost, .linkStalled, .cancelled: return true
        default: return false
        }
    }
}
