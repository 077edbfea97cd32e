import Foundation
import Testing
@testable import TPUDeployKit

/// A small bmodel whose weight ranges carry their real check codes (the sha256 of each range, as tpu-mlir writes
/// it), made at test time from Tests/Fixtures/bmodel/tiny-chatglm2.json by flatc, with the weights `shift` bytes
/// into the blob (a sparse hole before them: past 4 GiB for the large-model case).
enum CheckedBModelFixture {
    static let ranges: [String: (UInt64, UInt64)] = [
        "embedding": (0, 64 << 10), "block_0": (64 << 10, 32 << 10), "block_cache_0": (64 << 10, 32 << 10),
        "lm_head": (96 << 10, 32 << 10),
    ]
    static let weightBytes = 128 << 10

    /// Writes `name`.bmodel into `folder`; returns its path and the file offset of the blob's first weight byte.
    static func write(_ name: String, in folder: URL, shift: UInt64 = 0) throws -> (path: String, weightsAt: UInt64) {
        var generator = SystemRandomNumberGenerator()
        let weights = (0..<weightBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var model = try BModelFixture.source()
        model["net"] = (model["net"] as? [[String: Any]] ?? []).map { net in
            var net = net
            let range = ranges[net["name"] as? String ?? ""] ?? (0, 0)
            net["parameter"] = (net["parameter"] as? [[String: Any]] ?? []).map { parameter in
                var parameter = parameter
                var memory = parameter["coeff_mem"] as? [String: Any] ?? [:]
                memory["binary_coeff"] = ["start": range.0 + shift, "size": range.1]
                memory["check_code"] = Digest.sha256(Array(weights[Int(range.0)..<Int(range.0 + range.1)])).map(Int.init)
                parameter["coeff_mem"] = memory
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
        let flatBuffers = try Array(Data(contentsOf: folder.appendingPathComponent("\(name).bin")))
        let blobEnd = shift + UInt64(weightBytes)
        var header = [UInt8]()
        for word in [BModel.magic, UInt32(BModel.headerSize), UInt32(flatBuffers.count), UInt32(truncatingIfNeeded: blobEnd)] {
            withUnsafeBytes(of: word.littleEndian) { header += $0 }
        }
        header += [UInt8](repeating: 0, count: 48)
        let path = folder.appendingPathComponent("\(name).bmodel").path
        try LocalFile.write(header + flatBuffers, to: path)
        let weightsAt = UInt64(header.count + flatBuffers.count) + shift
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: weightsAt)
        try handle.write(contentsOf: Data(weights))
        try handle.close()
        return (path, weightsAt)
    }

    /// Flips one byte of the file at `offset`, as a bit error or a local edit would.
    static func flipByte(_ path: String, at offset: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: offset)
        let byte = try #require(try handle.read(upToCount: 1)).first ?? 0
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte ^ 0x5A]))
        try handle.close()
    }
}

@Suite struct CoefficientCheckTests {
    @Test func everyDistinctRangeWithItsNetsIsPlanned() throws {
        try LargeBModelFixture.inFolder { folder in
            let file = try CheckedBModelFixture.write("m", in: folder)
            let model = try BModel(contentsOf: file.path)
            let plan = CoefficientCheckPlan(model: model)
            #expect(plan.ranges.map(\.nets) == [["embedding"], ["block_0", "block_cache_0"], ["lm_head"]])
            #expect(plan.ranges.map(\.size) == [64 << 10, 32 << 10, 32 << 10])
            #expect(plan.ranges.first?.fileOffset == file.weightsAt)
            #expect(plan.uncheckedRanges == 0)
            #expect(try plan.verify(path: file.path).isEmpty)
            // The fixture of BModelTests carries 1- and 2-byte check codes: nothing to check, and said so.
            let unchecked = CoefficientCheckPlan(model: try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel")))
            #expect(unchecked.ranges.isEmpty)
            #expect(unchecked.uncheckedRanges == 3)
        }
    }

    @Test func aFlippedWeightByteIsFoundInTheSameReadAsTheFileHash() throws {
        try LargeBModelFixture.inFolder { folder in
            let file = try CheckedBModelFixture.write("m", in: folder)
            let plan = CoefficientCheckPlan(model: try BModel(contentsOf: file.path))
            let intact = CoefficientVerifier(plan: plan)
            let before = try LocalFileHash.sha256(file.path, observer: { intact.add($0) })
            #expect(intact.finish().isEmpty)

            try CheckedBModelFixture.flipByte(file.path, at: file.weightsAt + (64 << 10) + 1000)  // inside block_0's range
            let damaged = CoefficientVerifier(plan: plan)
            let after = try LocalFileHash.sha256(file.path, observer: { damaged.add($0) })
            #expect(after != before)
            let mismatches = damaged.finish()
            #expect(mismatches.map(\.range.nets) == [["block_0", "block_cache_0"]])
            #expect(try plan.verify(path: file.path).map(\.range.start) == [64 << 10])

            // The push's manifest refuses it, naming the nets and the range.
            #expect {
                _ = try PayloadManifest.build([.init(path: file.path, role: .bmodel, coefficients: plan)])
            } throws: { error in
                guard case PushError.coefficientsDamaged = error else { return false }
                let text = "\(error)"
                return text.contains("net block_0, block_cache_0") && text.contains("blob bytes 65536–98304") && text.contains("check_code")
            }
            // Without the plan the same file hashes as any other.
            #expect(try PayloadManifest.build([.init(path: file.path, role: .bmodel)]).entries.first?.sha256 == after)
        }
    }

    @Test func aCachedDigestWithoutAVerdictHasTheRangesRead() throws {
        try LargeBModelFixture.inFolder { folder in
            let file = try CheckedBModelFixture.write("m", in: folder)
            let plan = CoefficientCheckPlan(model: try BModel(contentsOf: file.path))
            let cache = LocalHashCache(file: folder.appendingPathComponent("cache.json"))
            try CheckedBModelFixture.flipByte(file.path, at: file.weightsAt + 5)  // inside the embedding
            let identity = try LocalHashCache.FileIdentity(path: file.path)
            // A digest remembered by a push that did not check coefficients: the weights are still checked.
            cache.remember(try LocalFileHash.sha256(file.path), of: file.path, identity: identity, now: Date().addingTimeInterval(10))
            #expect(!cache.coefficientsChecked(of: file.path, identity: identity))
            #expect(throws: PushError.self) {
                try PayloadManifest.build([.init(path: file.path, role: .bmodel, coefficients: plan)], cache: cache)
            }
            // A remembered verdict is trusted while the file is unchanged: no read at all.
            cache.remember("ab", of: file.path, identity: identity, coefficientsChecked: true, now: Date().addingTimeInterval(10))
            #expect(cache.coefficientsChecked(of: file.path, identity: identity))
            #expect(try PayloadManifest.build([.init(path: file.path, role: .bmodel, coefficients: plan)], cache: cache).entries.first?.sha256 == "ab")
        }
    }

    @Test func weightsPastFourGiBAreCheckedAtTheirSixtyFourBitOffsets() throws {
        try LargeBModelFixture.inFolder { folder in
            let shift: UInt64 = 5 << 30
            let file = try CheckedBModelFixture.write("big", in: folder, shift: shift)
            let model = try BModel(contentsOf: file.path)
            let plan = CoefficientCheckPlan(model: model)
            #expect(plan.ranges.first?.start == shift)
            #expect(plan.ranges.allSatisfy { $0.fileOffset > 1 << 32 })
            #expect(try plan.verify(path: file.path).isEmpty)
            try CheckedBModelFixture.flipByte(file.path, at: file.weightsAt + (96 << 10) + 7)  // lm_head
            #expect(try plan.verify(path: file.path).map(\.range.nets) == [["lm_head"]])
            // The streaming check takes chunks at any 64-bit offset (a resumed or sparse read).
            let verifier = CoefficientVerifier(plan: plan)
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file.path), options: .alwaysMapped)[Int(file.weightsAt)...])
            bytes.withUnsafeBytes { verifier.add($0, at: file.weightsAt) }
            #expect(verifier.finish().map(\.range.nets) == [["lm_head"]])
        }
    }
}
