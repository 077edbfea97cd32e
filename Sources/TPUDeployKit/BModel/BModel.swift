/// Why a bmodel file could not be read.
public enum BModelError: Error, CustomStringConvertible, Sendable, Equatable {
    case notABModel(path: String, reason: String)
    case truncated(path: String, expectedBytes: UInt64, actualBytes: UInt64)
    case malformed(path: String, reason: String)
    case wrongChip(path: String, chip: String, expected: String)

    public var description: String {
        switch self {
        case .notABModel(let path, let reason): return "\(path) is not a bmodel file: \(reason)."
        case .truncated(let path, let expected, let actual):
            return "\(path) is incomplete: its header and weights need \(expected) bytes, the file has \(actual) (an interrupted copy?)."
        case .malformed(let path, let reason): return "\(path) is damaged: \(reason)."
        case .wrongChip(let path, let chip, let expected):
            return "\(path) was compiled for \(chip), but the board is a \(expected): recompile it for \(expected) (tpu-mlir --chip \(expected.lowercased()))."
        }
    }
}

/// What a bmodel says about itself: chip, nets with their stages' tensors, and the device memory it needs.
/// Read from the 64-byte header and the FlatBuffers `Model` only; the coefficient blob (GBs) is never read.
public struct BModel: Sendable, Codable, Equatable {
    public static let magic: UInt32 = 0xFF55_AAEE
    public static let headerSize = 64

    public struct TensorInfo: Sendable, Codable, Equatable {
        public var name: String
        /// bm_data_type_t: 0 fp32, 1 fp16, 2 int8, 3 uint8, 4 int16, 5 uint16, 6 int32, 7 uint32, 8 bf16.
        public var dataType: UInt32
        public var shape: [UInt64]
        public var bytes: UInt64
    }

    public struct Stage: Sendable, Codable, Equatable {
        public var inputs: [TensorInfo]
        public var outputs: [TensorInfo]
        /// Neuron (activation) bytes of this stage.
        public var contextBytes: UInt64
        /// Where the stage's weights sit in the blob.
        public var coefficientStart: UInt64?
        public var coefficientBytes: UInt64
        /// `coeff_mem.check_code`: the SHA-256 of the stage's coefficient bytes as the compiler wrote them
        /// (nil when the file carries none).
        public var coefficientCheckCode: [UInt8]? = nil
    }

    public struct Net: Sendable, Codable, Equatable {
        public var name: String
        public var stages: [Stage]
    }

    public var chip: String
    public var version: String
    public var nets: [Net]
    /// The neuron memory the runtime allocates when it loads the model.
    public var neuronBytes: UInt64
    /// Size of the weights blob after the FlatBuffers part: the header's u32 `binary_size` unwrapped (see
    /// `blobBytes(headerBinarySize:reaching:)`), so 4 GiB and more for the large LLMs.
    public var binaryBytes: UInt64
    /// Where the blob starts in the file: after the 64-byte header and the FlatBuffers part. Coefficient
    /// `start`s are relative to it.
    public var blobOffset: UInt64 = 0

    /// Weights in device memory: every distinct coefficient range once (nets share blocks of weights).
    public var coefficientBytes: UInt64 {
        var seen = Set<[UInt64]>()
        var total: UInt64 = 0
        for stage in nets.flatMap(\.stages) where stage.coefficientBytes > 0 {
            if seen.insert([stage.coefficientStart ?? 0, stage.coefficientBytes]).inserted { total += stage.coefficientBytes }
        }
        return total
    }

    /// Device memory the model needs in the NPU heap: its weights plus the neuron memory.
    public var npuMemoryBytes: UInt64 { coefficientBytes + neuronBytes }

    /// The net names, in file order.
    public var netNames: [String] { nets.map(\.name) }

    /// Parses the header and FlatBuffers part. `fileSize` is the whole file's size, checked against the header.
    public init(headerAndModel bytes: [UInt8], fileSize: UInt64, path: String) throws {
        guard bytes.count >= Self.headerSize else {
            throw BModelError.notABModel(path: path, reason: "shorter than the 64-byte header")
        }
        let magic = try FlatBufferTable.u32(bytes, 0)
        guard magic == Self.magic else {
            throw BModelError.notABModel(path: path, reason: "magic is 0x\(String(magic, radix: 16)), not 0xff55aaee")
        }
        let headerSize = UInt64(try FlatBufferTable.u32(bytes, 4))
        let flatBuffersSize = UInt64(try FlatBufferTable.u32(bytes, 8))
        let headerBinarySize = try FlatBufferTable.u32(bytes, 12)
        // libbmrt's own check (ModelCtx in libsophon's tpu-bmodel/src/bmodel.cpp): the file holds what the header says.
        let declared = headerSize + flatBuffersSize + UInt64(headerBinarySize)
        guard fileSize >= declared else { throw BModelError.truncated(path: path, expectedBytes: declared, actualBytes: fileSize) }
        guard headerSize == UInt64(Self.headerSize), UInt64(bytes.count) >= headerSize + flatBuffersSize else {
            throw BModelError.malformed(path: path, reason: "header size \(headerSize) or FlatBuffers size \(flatBuffersSize) does not fit")
        }
        let model = Array(bytes[Int(headerSize)..<Int(headerSize + flatBuffersSize)])
        do {
            let root = try FlatBufferTable(root: model)
            func required(_ value: String?, _ field: String) throws -> String {
                guard let value else { throw BModelError.malformed(path: path, reason: "the model has no \(field)") }
                return value
            }
            chip = try required(root.string(3), "chip")
            version = try required(root.string(1), "version")
            neuronBytes = try root.u64(5)
            nets = try root.tables(4).map { net in
                Net(name: try required(net.string(0), "net name"), stages: try net.tables(3).map { parameter in
                    let memory = try parameter.table(4)
                    let coefficients = try memory.flatMap { try $0.u64Pair(2) }
                    return Stage(
                        inputs: try parameter.tables(0).map(Self.tensor), outputs: try parameter.tables(1).map(Self.tensor),
                        contextBytes: try parameter.u64(3), coefficientStart: coefficients?.0, coefficientBytes: coefficients?.1 ?? 0,
                        // tpu-mlir's encrypt_mode (CoeffMem field 4): the check code is of the plain bytes, not the
                        // stored ones, so an encrypted range cannot be checked here.
                        coefficientCheckCode: try memory?.u32(4) == 0 ? try memory?.u8s(1) : nil)
                })
            }
        } catch let error as FlatBufferError {
            throw BModelError.malformed(path: path, reason: error.reason)
        }
        guard !nets.isEmpty else { throw BModelError.malformed(path: path, reason: "the model has no nets") }
        var weightsEnd: UInt64 = 0
        for stage in nets.flatMap(\.stages) {
            let (end, overflow) = (stage.coefficientStart ?? 0).addingReportingOverflow(stage.coefficientBytes)
            guard !overflow else { throw BModelError.malformed(path: path, reason: "the weights of a net end past 2^64 bytes") }
            weightsEnd = max(weightsEnd, end)
        }
        binaryBytes = Self.blobBytes(headerBinarySize: headerBinarySize, reaching: weightsEnd)
        blobOffset = headerSize + flatBuffersSize
        let needed = headerSize + flatBuffersSize + binaryBytes
        guard fileSize >= needed else { throw BModelError.truncated(path: path, expectedBytes: needed, actualBytes: fileSize) }
    }

    /// The blob's real size. The vendor writers (libsophon's and tpu-mlir's `ModelGen::Save`) store the blob's
    /// size in the header's u32 `binary_size`, so a blob of 4 GiB or more is written as its size mod 2^32, and
    /// libbmrt loads such files. The real size is the smallest one with those low 32 bits that holds every weight
    /// range: for an intact file, the bytes after the header and FlatBuffers. Checking the file against it (not
    /// just against the weights' end) also catches a multi-GB file cut short after its last weights.
    public static func blobBytes(headerBinarySize: UInt32, reaching weightsEnd: UInt64) -> UInt64 {
        let wrap: UInt64 = 1 << 32
        let size = UInt64(headerBinarySize)
        guard weightsEnd > size else { return size }
        let short = (weightsEnd - size).quotientAndRemainder(dividingBy: wrap)
        let (extra, tooMany) = (short.quotient + (short.remainder > 0 ? 1 : 0)).multipliedReportingOverflow(by: wrap)
        let (result, tooLarge) = size.addingReportingOverflow(extra)
        return tooMany || tooLarge ? .max : result
    }

    private static func tensor(_ table: FlatBufferTable) throws -> TensorInfo {
        TensorInfo(
            name: try table.string(0) ?? "", dataType: try table.u32(1), shape: try table.tables(5).first?.u64s(0) ?? [],
            bytes: try table.u64(4))
    }

    /// Reads a bmodel file's header and model description from disk (not its weights).
    public init(contentsOf path: String) throws {
        let prefix: [UInt8]
        let size: UInt64
        do {
            let header = try LocalFile.readPrefix(path, count: Self.headerSize)
            guard header.bytes.count == Self.headerSize else {
                throw BModelError.notABModel(path: path, reason: "shorter than the 64-byte header")
            }
            let flatBuffersSize = Int(try FlatBufferTable.u32(header.bytes, 8))
            (prefix, size) = try LocalFile.readPrefix(path, count: Self.headerSize + min(flatBuffersSize, 256 << 20))
        } catch let failure as LocalFile.Failure {
            throw BModelError.notABModel(path: path, reason: failure.reason)
        }
        try self.init(headerAndModel: prefix, fileSize: size, path: path)
    }

    /// Refuses a model compiled for another chip (the legacy name BM1686 counts as BM1684X, see `ChipName`).
    public func requireChip(_ expected: String, path: String) throws {
        guard ChipName.runs(model: chip, on: expected) else { throw BModelError.wrongChip(path: path, chip: chip, expected: expected) }
    }
}

extension BModelError: CodedError {
    public var errorCode: String {
        switch self {
        case .notABModel: return "bmodel_invalid"
        case .truncated: return "bmodel_truncated"
        case .malformed: return "bmodel_malformed"
        case .wrongChip: return "model_wrong_chip"
        }
    }
}
