import Foundation
import Testing
@testable import TPUDeployKit

/// bmodels of 4 GiB and more, written the way libsophon's and tpu-mlir's `ModelGen::Save` write them: the header's
/// u32 `binary_size` holds the blob's size mod 2^32. Made at run time from Tests/Fixtures/bmodel/tiny-chatglm2.json
/// (compiled by flatc) with the weights moved past 4 GiB, as sparse files in a temporary folder that is deleted.
enum LargeBModelFixture {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Writes `name`.bmodel into `folder`: tiny-chatglm2 with every weight range `shift` bytes further into the blob
    /// and `chip` as its chip. Returns its path and the sizes a reader must find.
    static func write(_ name: String, in folder: URL, shift: UInt64, chip: String = "BM1684X") throws
        -> (path: String, flatBuffersBytes: UInt64, blobBytes: UInt64)
    {
        var model = try BModelFixture.source()
        var blobEnd: UInt64 = 0
        model["chip"] = chip
        model["net"] = (model["net"] as? [[String: Any]] ?? []).map { net in
            var net = net
            net["parameter"] = (net["parameter"] as? [[String: Any]] ?? []).map { parameter in
                var parameter = parameter
                if var coefficients = parameter["coeff_mem"] as? [String: Any],
                   var binary = coefficients["binary_coeff"] as? [String: Any],
                   let start = (binary["start"] as? NSNumber)?.uint64Value, let size = (binary["size"] as? NSNumber)?.uint64Value
                {
                    binary["start"] = start + shift
                    blobEnd = max(blobEnd, start + shift + size)
                    coefficients["binary_coeff"] = binary
                    parameter["coeff_mem"] = coefficients
                }
                return parameter
            }
            return net
        }
        let json = folder.appendingPathComponent("\(name).json")
        try JSONSerialization.data(withJSONObject: model).write(to: json)
        let flatc = Process()
        flatc.executableURL = URL(fileURLWithPath: "/usr/bin/flatc")
        flatc.arguments = ["-b", "-o", folder.path, BModelFixture.fixtures.appendingPathComponent("bmodel/bmodel.fbs").path, json.path]
        try flatc.run()
        flatc.waitUntilExit()
        guard flatc.terminationStatus == 0 else { throw Failure(description: "flatc failed on \(json.path)") }
        let flatBuffers = try Data(contentsOf: folder.appendingPathComponent("\(name).bin"))

        // MODEL_HEADER_T: magic, header_size, flatbuffers_size, binary_size (wrapped, as size_t into u32), 12 reserved.
        var header = Data()
        for word in [BModel.magic, UInt32(BModel.headerSize), UInt32(flatBuffers.count), UInt32(truncatingIfNeeded: blobEnd)] {
            withUnsafeBytes(of: word.littleEndian) { header.append(contentsOf: $0) }
        }
        header.append(Data(count: 48))
        let path = folder.appendingPathComponent("\(name).bmodel").path
        try (header + flatBuffers).write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(BModel.headerSize + flatBuffers.count) + blobEnd)  // a sparse hole
        try handle.close()
        return (path, UInt64(flatBuffers.count), blobEnd)
    }

    /// A fresh temporary folder, removed after `body`.
    static func inFolder<T>(_ body: (URL) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("large-bmodel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try body(folder)
    }

    static func cut(_ path: String, to size: UInt64) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: size)
        try handle.close()
    }
}

@Suite struct LargeBModelTests {
    static let gib: UInt64 = 1 << 30

    @Test func theBlobSizeIsTheHeaderFieldUnwrappedToReachTheWeights() {
        let wrap: UInt64 = 1 << 32
        #expect(BModel.blobBytes(headerBinarySize: 100, reaching: 50) == 100)
        #expect(BModel.blobBytes(headerBinarySize: 100, reaching: 100) == 100)
        #expect(BModel.blobBytes(headerBinarySize: 0, reaching: 0) == 0)
        // 6.2 GiB of weights (ChatGLM2-6B int8) are written as 2.2 GiB.
        let real = 6 * Self.gib + 200 << 20
        #expect(BModel.blobBytes(headerBinarySize: UInt32(truncatingIfNeeded: real), reaching: real) == real)
        #expect(BModel.blobBytes(headerBinarySize: 100, reaching: wrap + 50) == wrap + 100)
        #expect(BModel.blobBytes(headerBinarySize: 100, reaching: wrap + 101) == 2 * wrap + 100)
        #expect(BModel.blobBytes(headerBinarySize: 5, reaching: .max) == .max)
    }

    @Test func aModelOver4GiBIsReadAndSizedForFixMemoryAndPush() throws {
        try LargeBModelFixture.inFolder { folder in
            let small = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
            let fixture = try LargeBModelFixture.write("large", in: folder, shift: 5 * Self.gib)
            #expect(fixture.blobBytes > 5 * Self.gib)
            let header = try LocalFile.readPrefix(fixture.path, count: 16).bytes
            #expect(try FlatBufferTable.u32(header, 12) == UInt32(fixture.blobBytes - 4 * Self.gib), "binary_size wraps")

            let model = try BModel(contentsOf: fixture.path)
            #expect(model.binaryBytes == fixture.blobBytes)
            #expect(model.coefficientBytes == small.coefficientBytes)
            #expect(model.npuMemoryBytes == small.npuMemoryBytes)
            #expect(model.nets.first?.stages.first?.coefficientStart == 5 * Self.gib)

            // fix-memory --for-model FILE: the library path the command takes.
            let profiles = ProfileStore(directory: BModelFixture.fixtures.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Profiles"))
            let sizing = try LayoutChoice.modelFile(path: fixture.path, model: model).sizing(for: try profiles.board(named: "1684x_evb"))
            let request = try sizing.request(limits: LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096))
            #expect(request.npuMiB == (ModelMemoryNeed(model: model).totalBytes + (1 << 20) - 1) / (1 << 20) + 256)

            // push's preflight.
            let needs = ModelNeeds(model: model, path: fixture.path, profile: nil)
            let board = BoardFacts(target: "root@b", arch: "aarch64", chip: "BM1684X", boardProfile: "1684x_evb",
                                   liveHeaps: DeviceHeaps(npu: 7 * Self.gib, vpp: nil, vpu: nil), freeBytes: 16 * Self.gib, remoteDir: "/data/x")
            #expect(try PushPreflight.check(board: board, model: needs, bytesNeeded: 1).isEmpty)
        }
    }

    @Test func aTruncatedModelOver4GiBIsIncompleteWithTheNumbers() throws {
        try LargeBModelFixture.inFolder { folder in
            let fixture = try LargeBModelFixture.write("large", in: folder, shift: 5 * Self.gib)
            let whole = UInt64(BModel.headerSize) + fixture.flatBuffersBytes + fixture.blobBytes
            // Cut after the last weight byte, inside the weights, and where only libbmrt's own check still passes
            // (the file is longer than header + FlatBuffers + the wrapped binary_size).
            let wrapped = fixture.blobBytes - 4 * Self.gib
            for size in [whole - 1, whole - (100 << 20), UInt64(BModel.headerSize) + fixture.flatBuffersBytes + wrapped + 10] {
                try LargeBModelFixture.cut(fixture.path, to: size)
                #expect(throws: BModelError.truncated(path: fixture.path, expectedBytes: whole, actualBytes: size)) {
                    try BModel(contentsOf: fixture.path)
                }
            }
            do {
                _ = try BModel(contentsOf: fixture.path)
            } catch {
                #expect("\(error)".contains("is incomplete: its header and weights need \(whole) bytes"), "\(error)")
            }
        }
    }

    @Test func theLegacyChipNameBM1686IsABM1684X() throws {
        try LargeBModelFixture.inFolder { folder in
            let fixture = try LargeBModelFixture.write("legacy", in: folder, shift: 0, chip: "BM1686")
            let model = try BModel(contentsOf: fixture.path)
            #expect(model.chip == "BM1686")
            try model.requireChip("BM1684X", path: fixture.path)
            #expect(throws: BModelError.self) { try model.requireChip("BM1684", path: fixture.path) }
            #expect(ChipName.runs(model: "bm1686", on: "BM1684X"))
            #expect(!ChipName.runs(model: "BM1684X", on: "BM1686"), "a board never reports the old name")

            let needs = ModelNeeds(model: model, path: fixture.path, profile: nil)
            let board = BoardFacts(target: "root@b", arch: "aarch64", chip: "BM1684X", boardProfile: "1684x_evb",
                                   liveHeaps: DeviceHeaps(npu: 7 * Self.gib, vpp: nil, vpu: nil), freeBytes: 16 * Self.gib, remoteDir: "/data/x")
            #expect(try PushPreflight.check(board: board, model: needs, bytesNeeded: 1).isEmpty)
        }
    }
}
