import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a pushed file is for on the board.
public enum PayloadRole: String, Sendable, Codable, Equatable, CaseIterable {
    case bmodel, tokenizer, engine
    /// Anything else the engine needs beside it (service units, runtime libraries).
    case support
}

/// One file of a payload: where it is here, what it is called on the board, and its size and hash.
public struct PayloadEntry: Sendable, Codable, Equatable {
    /// The file name in the remote directory.
    public var name: String
    public var role: PayloadRole
    public var size: UInt64
    /// Lower-case hex SHA-256, as `sha256sum` prints it; empty while `hashPending`.
    public var sha256: String
    /// Permission bits on the board (0755 for the engine).
    public var mode: UInt32
    /// The local path it is read from (not encoded in the board's manifest).
    public var localPath: String
    /// The hash is taken while the file is sent (`PayloadManifest.build`'s `hashLater`).
    public var hashPending: Bool { sha256.isEmpty }

    public init(name: String, role: PayloadRole, size: UInt64, sha256: String, mode: UInt32, localPath: String) {
        self.name = name
        self.role = role
        self.size = size
        self.sha256 = sha256
        self.mode = mode
        self.localPath = localPath
    }
}

/// The files a push sends: bmodel, tokenizer, engine build and support files, each with size and SHA-256
/// computed locally by streaming the file (models are GBs; nothing is held in memory whole).
public struct PayloadManifest: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.payload/1"
    public var schema = PayloadManifest.schemaName
    public var entries: [PayloadEntry]

    public init(entries: [PayloadEntry]) { self.entries = entries }

    /// A file to include: its local path, role, and optionally another name on the board.
    public struct Source: Sendable, Equatable {
        public var path: String
        public var role: PayloadRole
        public var remoteName: String?
        /// A bmodel's coefficient ranges, checked against their check codes in the same read as the file's hash.
        public var coefficients: CoefficientCheckPlan?
        public init(path: String, role: PayloadRole, remoteName: String? = nil, coefficients: CoefficientCheckPlan? = nil) {
            self.path = path
            self.role = role
            self.remoteName = remoteName
            self.coefficients = coefficients
        }
    }

    /// Hashes every source, or takes its digest from `cache` when the file is unchanged since it was hashed.
    /// A source with `coefficients` has them checked in the same read (or, when its digest comes from the cache
    /// and the cache has no verdict on them, by reading those ranges only); a mismatch throws
    /// `PushError.coefficientsDamaged`. A file for which `hashLater(name, size)` says yes (and the cache has no digest) is left unhashed
    /// (`hashPending`): the caller hashes it while sending it. `progress` gets (bytes hashed, found in the
    /// cache or left for later, bytes in all) for a display.
    public static func build(_ sources: [Source], cache: LocalHashCache? = nil, hashLater: ((String, UInt64) -> Bool)? = nil,
                             progress: TransferProgress? = nil) throws -> PayloadManifest {
        var sizes: [UInt64] = []
        for source in sources {
            var status = stat()
            guard stat(source.path, &status) == 0 else { throw PushError.localFileUnreadable(path: source.path, reason: String(cString: strerror(errno))) }
            guard status.st_mode & S_IFMT == S_IFREG else { throw PushError.localFileUnreadable(path: source.path, reason: "not a regular file") }
            sizes.append(UInt64(status.st_size))
        }
        let total = sizes.reduce(0, +)
        var before: UInt64 = 0
        var entries: [PayloadEntry] = []
        var names = Set<String>()
        for (source, size) in zip(sources, sizes) {
            let name = source.remoteName ?? (source.path as NSString).lastPathComponent
            guard names.insert(name).inserted else { throw PushError.duplicateName(name: name) }
            let base = before
            let identity = try LocalHashCache.FileIdentity(path: source.path)
            let hash: String
            let plan = source.coefficients.flatMap { $0.ranges.isEmpty ? nil : $0 }
            if let known = cache?.digest(of: source.path, identity: identity) {
                hash = known
                if let plan, cache?.coefficientsChecked(of: source.path, identity: identity) != true {
                    try requireIntact(plan.verify(path: source.path), path: source.path)
                    cache?.remember(known, of: source.path, identity: identity, coefficientsChecked: true)
                }
                progress?(Int(base + size), Int(total))
            } else if hashLater?(name, size) == true {
                hash = ""
                progress?(Int(base + size), Int(total))
            } else {
                let verifier = plan.map(CoefficientVerifier.init)
                hash = try LocalFileHash.sha256(source.path, observer: verifier.map { verifier in { verifier.add($0) } }) { done in
                    progress?(Int(base + done), Int(total))
                }
                if let verifier { try requireIntact(verifier.finish(), path: source.path) }
                cache?.remember(hash, of: source.path, identity: identity, coefficientsChecked: plan != nil)
            }
            entries.append(PayloadEntry(name: name, role: source.role, size: size, sha256: hash,
                                        mode: source.role == .engine ? 0o755 : 0o644, localPath: source.path))
            before += size
        }
        return PayloadManifest(entries: entries)
    }

    /// Throws `PushError.coefficientsDamaged` when a bmodel's coefficient ranges did not match their check codes.
    public static func requireIntact(_ mismatches: [CoefficientMismatch], path: String) throws {
        guard mismatches.isEmpty else { throw PushError.coefficientsDamaged(model: path, mismatches: mismatches) }
    }

    public var totalBytes: UInt64 { entries.reduce(0) { $0 + $1.size } }
    public func entry(_ role: PayloadRole) -> PayloadEntry? { entries.first { $0.role == role } }
}

/// Streaming SHA-256 of local files, whole or a prefix.
public enum LocalFileHash {
    /// SHA-256 (hex) of the first `prefix` bytes of `path` (the whole file when nil). `observer` sees every chunk
    /// read, in order (the bmodel's coefficient check rides on this read).
    public static func sha256(_ path: String, prefix: UInt64? = nil, observer: ((UnsafeRawBufferPointer) -> Void)? = nil,
                              progress: ((UInt64) -> Void)? = nil) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let digest = StreamingDigest(.sha256)
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var done: UInt64 = 0
        while prefix.map({ done < $0 }) ?? true {
            let want = prefix.map { Int(min(UInt64(buffer.count), $0 - done)) } ?? buffer.count
            let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, want) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
            if got == 0 { break }
            buffer.withUnsafeBytes { bytes in
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<got])
                digest.update(chunk)
                observer?(chunk)
            }
            done += UInt64(got)
            progress?(done)
        }
        if let prefix, done < prefix { throw PushError.localFileUnreadable(path: path, reason: "shorter than \(prefix) bytes") }
        return Digest.hex(digest.finish())
    }
}
