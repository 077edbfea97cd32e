import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing whole local files straight to and from byte arrays: boot images are tens of MB,
/// and going through `Data` would copy them once more each way.
public enum LocalFile {
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    private static func failure(_ path: String) -> Failure { Failure(path: path, reason: String(cString: strerror(errno))) }

    /// The whole file at `path`. `spareCapacity` more bytes are reserved, not touched, after the contents, for a
    /// caller that edits the bytes in place and may grow them (a boot image's dtb, see `FITRewriter.roomToGrow`).
    public static func read(_ path: String, spareCapacity: Int = 0) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(path) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(path) }
        let size = Int(status.st_size)
        var readError: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: size + max(spareCapacity, 0)) { buffer, initialized in
            var done = 0
            while done < size {
                let got = Glibc.read(descriptor, buffer.baseAddress! + done, size - done)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 {
                    readError = got < 0 ? failure(path) : Failure(path: path, reason: "the file shrank while it was being read")
                    break
                }
                done += got
            }
            initialized = done
        }
        if let readError { throw readError }
        return bytes
    }

    /// The first `count` bytes of the file (fewer if it is shorter) and the file's whole size.
    public static func readPrefix(_ path: String, count: Int) throws -> (bytes: [UInt8], fileSize: UInt64) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(path) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(path) }
        let wanted = min(count, Int(status.st_size))
        var readError: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
            var done = 0
            while done < wanted {
                let got = Glibc.read(descriptor, buffer.baseAddress! + done, wanted - done)
                if got < 0 && errno == EINTR { continue }
                if got < 0 { readError = failure(path) }
                if got <= 0 { break }
                done += got
            }
            initialized = done
        }
        if let readError { throw readError }
        return (bytes, UInt64(status.st_size))
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename, so a
    /// reader never sees half a file.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        let temporary = path + ".tpudeploy-tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure(temporary) }
        var writeError: Failure?
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let wrote = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if wrote < 0 && errno == EINTR { continue }
                if wrote <= 0 {
                    writeError = failure(path)
                    return
                }
                done += wrote
            }
        }
        if close(descriptor) != 0, writeError == nil { writeError = failure(path) }
        if writeError == nil, rename(temporary, path) != 0 { writeError = failure(path) }
        if let writeError {
            unlink(temporary)
            throw writeError
        }
    }
}

extension LocalFile.Failure: CodedError {
    public var errorCode: String { "local_file_unreadable" }
}
