import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One distinct range of coefficient bytes (weights) in a bmodel's blob and the SHA-256 the compiler wrote for
/// it in `coeff_mem.check_code` (tpu-mlir `bmodel.fbs` CoeffMem; libsophon `tpu-bmodel/model/model.fbs`).
public struct CoefficientRange: Sendable, Equatable {
    /// The nets whose stages use these bytes (nets share weights: `block_N` and `block_cache_N`).
    public var nets: [String]
    /// Offset in the blob, as `binary_coeff.start` says (64-bit: LLM blobs pass 4 GiB).
    public var start: UInt64
    public var size: UInt64
    public var checkCode: [UInt8]
    /// Offset in the file: the blob's offset plus `start`.
    public var fileOffset: UInt64
}

/// A range whose bytes do not hash to its check code.
public struct CoefficientMismatch: Sendable, Equatable {
    public var range: CoefficientRange
    /// SHA-256 (hex) of the bytes found.
    public var actual: String
}

/// Which coefficient ranges of a bmodel can be checked, and the check itself: every distinct range that carries
/// a 32-byte check code. Ranges without one (hand-made files, or a compiler that left it empty) are counted as
/// not checkable.
public struct CoefficientCheckPlan: Sendable, Equatable {
    public var ranges: [CoefficientRange]
    /// Distinct non-empty ranges that carry no SHA-256 check code.
    public var uncheckedRanges: Int

    public init(model: BModel) {
        var byKey: [[UInt64]: Int] = [:]
        var ranges: [CoefficientRange] = []
        var unchecked = Set<[UInt64]>()
        for net in model.nets {
            for stage in net.stages where stage.coefficientBytes > 0 {
                let start = stage.coefficientStart ?? 0
                let key = [start, stage.coefficientBytes]
                guard let code = stage.coefficientCheckCode, code.count == 32 else {
                    unchecked.insert(key)
                    continue
                }
                if let index = byKey[key] {
                    if !ranges[index].nets.contains(net.name) { ranges[index].nets.append(net.name) }
                    continue
                }
                byKey[key] = ranges.count
                ranges.append(CoefficientRange(nets: [net.name], start: start, size: stage.coefficientBytes, checkCode: code,
                                               fileOffset: model.blobOffset + start))
            }
        }
        self.ranges = ranges.sorted { $0.fileOffset < $1.fileOffset }
        uncheckedRanges = unchecked.subtracting(byKey.keys).count
    }

    /// Reads only the ranges' bytes from `path` (for a file whose whole-file digest is already known) and
    /// returns the ranges that do not match.
    public func verify(path: String) throws -> [CoefficientMismatch] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let verifier = CoefficientVerifier(plan: self)
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        for range in ranges {
            var offset = range.fileOffset
            let end = range.fileOffset + range.size
            while offset < end {
                let want = Int(min(UInt64(buffer.count), end - offset))
                let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, want, off_t(offset)) }
                if got < 0 && errno == EINTR { continue }
                if got < 0 { throw PushError.localFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
                if got == 0 { throw PushError.localFileUnreadable(path: path, reason: "shorter than its weights (\(end) bytes)") }
                buffer.withUnsafeBytes { verifier.add(UnsafeRawBufferPointer(rebasing: $0[0..<got]), at: offset) }
                offset += UInt64(got)
            }
        }
        return verifier.finish()
    }
}

/// Hashes each coefficient range from chunks of the file as another reader (the whole-file hash, the upload)
/// goes through it, so checking the weights costs no read of its own.
///
/// Unchecked Sendable: fed from one thread at a time (the upload's queue or the hashing loop); `finish` is
/// called after the reading is done.
public final class CoefficientVerifier: @unchecked Sendable {
    private let ranges: [CoefficientRange]
    private var digests: [Int: StreamingDigest] = [:]
    private var fed: [UInt64]
    /// The next byte of the file a sequential reader gives (`add(_:)`).
    private var position: UInt64 = 0

    public init(plan: CoefficientCheckPlan) {
        ranges = plan.ranges
        fed = Array(repeating: 0, count: plan.ranges.count)
    }

    /// The next chunk of a reader that goes through the file from its first byte.
    public func add(_ chunk: UnsafeRawBufferPointer) {
        add(chunk, at: position)
    }

    /// `chunk` holds the file's bytes from `offset` on. Each range must be given its bytes in order.
    public func add(_ chunk: UnsafeRawBufferPointer, at offset: UInt64) {
        let chunkEnd = offset + UInt64(chunk.count)
        position = chunkEnd
        for (index, range) in ranges.enumerated() {
            let rangeEnd = range.fileOffset + range.size
            if range.fileOffset >= chunkEnd { break }
            // Only the next bytes of the range are taken, so a chunk that overlaps what was fed is not counted twice.
            let from = max(offset, range.fileOffset + fed[index]), to = min(chunkEnd, rangeEnd)
            guard from < to, from == range.fileOffset + fed[index] else { continue }
            let digest = digests[index] ?? StreamingDigest(.sha256)
            digests[index] = digest
            digest.update(UnsafeRawBufferPointer(rebasing: chunk[Int(from - offset)..<Int(to - offset)]))
            fed[index] += to - from
        }
    }

    /// The ranges whose bytes do not hash to their check code; a range not wholly read counts as not matching.
    public func finish() -> [CoefficientMismatch] {
        var mismatches: [CoefficientMismatch] = []
        for (index, range) in ranges.enumerated() {
            guard fed[index] == range.size, let digest = digests[index] else {
                mismatches.append(CoefficientMismatch(range: range, actual: "(only \(fed[index]) of \(range.size) bytes read)"))
                continue
            }
            let actual = digest.finish()
            if actual != range.checkCode { mismatches.append(CoefficientMismatch(range: range, actual: Digest.hex(actual))) }
        }
        return mismatches
    }
}
