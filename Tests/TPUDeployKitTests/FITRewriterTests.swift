import Foundation
import Testing

@testable import TPUDeployKit

/// Board dtbs written back into FIT images, judged by U-Boot's own tools (`dumpimage`, `mkimage -F`), dtc's
/// `fdtget` and coreutils/zlib hashes — not by the Swift code that wrote them.
@Suite struct FITRewriterTests {
    /// How a test changes a board dtb: every edit sets the NPU heap to 4 GiB; `grow` also adds a node bigger than
    /// the dtb's free space, `shrink` also removes two nodes and packs.
    enum Edit: String, CaseIterable, Sendable {
        case setReg, grow, shrink

        static let npuHeap = AddressRange(start: 0x1_2410_0000, size: 0x1_0000_0000)

        func apply(to dtb: [UInt8]) throws -> [UInt8] {
            var tree = try FlatDeviceTree(bytes: dtb)
            try tree.setReg([Self.npuHeap], at: "/reserved-memory/ion_npu_mem")
            switch self {
            case .setReg:
                break
            case .grow:
                let node = try tree.addNode("tpudeploy-test", under: "/")
                try tree.setProperty("filler", to: [UInt8](repeating: 0xA5, count: 3000), at: node)
                try tree.pack()
            case .shrink:
                try tree.removeNode(at: "/chosen")
                try tree.removeNode(at: "/reserved-memory/ramoops_mem")
                try tree.pack()
            }
            return tree.bytes
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var fixture: String
        var image: String
        var edit: Edit
        var testDescription: String { "\(fixture) \(image) \(edit)" }
    }

    static let embeddedCases: [Case] = [BootImageFixture.fit16GB, BootImageFixture.fit12GB].flatMap { fixture in
        (1...5).flatMap { n in Edit.allCases.map { Case(fixture: fixture, image: "fdt-\(n)", edit: $0) } }
    }

    @Test(arguments: embeddedCases)
    func rewritesAnEmbeddedDataImage(_ testCase: Case) throws {
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let original = try FITImage(bytes: BootImageFixture.bytes(testCase.fixture))
        let oldDTB = try original.data(of: original.image(named: testCase.image))
        let newDTB = try testCase.edit.apply(to: oldDTB)
        #expect(testCase.edit != .grow || newDTB.count > oldDTB.count + 2000)
        #expect(testCase.edit != .shrink || newDTB.count < oldDTB.count)

        let rewritten = try FITRewriter.replacingDeviceTree(in: original, image: testCase.image, with: newDTB)
        try FITRewriter.verify(rewritten, original: original, changedImage: testCase.image, data: newDTB, checkingEveryHash: true)
        // Only the image's data changes size; the tree keeps the free space mkimage left after its strings.
        let aligned = FITExternalDataPlan.aligned
        #expect(rewritten.count == original.fileSize + aligned(newDTB.count) - aligned(oldDTB.count))
        #expect(try FlatDeviceTree(bytes: rewritten).freeSpaceAtEnd
            == FlatDeviceTree(bytes: BootImageFixture.bytes(testCase.fixture)).freeSpaceAtEnd)

        try UBootJudge(scratch: scratch).check(
            rewritten, original: BootImageFixture.url(testCase.fixture), changed: testCase.image, newDTB: newDTB)
    }

    @Test(arguments: ["external/data-offset.itb", "external/data-position.itb"], ["fdt-1", "fdt-5"])
    func rewritesAnExternalDataImage(_ fixture: String, _ image: String) throws {
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let url = try BootImageFixture.url(fixture)
        let original = try FITImage(bytes: BootImageFixture.bytes(fixture))
        for edit in Edit.allCases {
            let oldDTB = try original.data(of: original.image(named: image))
            let newDTB = try edit.apply(to: oldDTB)
            let rewritten = try FITRewriter.replacingDeviceTree(in: original, image: image, with: newDTB)
            let result = try FITRewriter.verify(rewritten, original: original, changedImage: image, data: newDTB)
            #expect(result.index.totalSize == original.index.totalSize, "the tree keeps its size")
            try UBootJudge(scratch: scratch).check(rewritten, original: url, changed: image, newDTB: newDTB)

            // Later images moved by the change of the padded size; earlier ones stayed.
            let output = scratch.appendingPathComponent("external.itb")
            try Data(rewritten).write(to: output)
            let property = fixture.contains("offset") ? "data-offset" : "data-position"
            let delta = FITExternalDataPlan.aligned(newDTB.count) - FITExternalDataPlan.aligned(oldDTB.count)
            let changedIndex = original.images.firstIndex { $0.name == image }!
            for (index, other) in original.images.enumerated() {
                let before = try Tool.fdtgetHex(url, "/images/" + other.name, property)
                let after = try Tool.fdtgetHex(output, "/images/" + other.name, property)
                #expect(after == before.map { index > changedIndex ? UInt64(Int64($0) + Int64(delta)) : $0 }, "\(other.name)")
            }
            #expect(try Tool.fdtgetHex(output, "/images/" + image, "data-size") == [UInt64(newDTB.count)])

            // mkimage -E, asked to lay out the same change made in the embedded image, writes the same bytes.
            let embedded = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
            let mkimageInput = scratch.appendingPathComponent("mkimage.itb")
            try Data(try FITRewriter.replacingDeviceTree(in: embedded, image: image, with: newDTB)).write(to: mkimageInput)
            let position = fixture.contains("position") ? ["-p", "0x1000"] : []
            _ = try Tool.output("mkimage", ["-E"] + position + ["-F", mkimageInput.path])
            // (mkimage leaves whatever was in its buffer in the tree's 4-byte alignment padding; ours is zero.)
            var expected = [UInt8](try Data(contentsOf: mkimageInput))
            let stringsEnd = Int(DeviceTreeValue.bigEndianU32(expected, at: 12) + DeviceTreeValue.bigEndianU32(expected, at: 32))
            let treeEnd = Int(DeviceTreeValue.bigEndianU32(expected, at: 4))
            #expect(treeEnd - stringsEnd < 4)
            for index in stringsEnd..<treeEnd { expected[index] = 0 }
            #expect(rewritten == expected, "\(edit): same file as mkimage -E")
        }
    }

    @Test(arguments: [BootImageFixture.fit16GB, "external/data-offset.itb", "external/data-position.itb"])
    func theSameDTBGivesTheSameFile(_ fixture: String) throws {
        let bytes = try BootImageFixture.bytes(fixture)
        let fit = try FITImage(bytes: bytes)
        for image in fit.images where image.isDeviceTree {
            let rewritten = try FITRewriter.replacingDeviceTree(in: fit, image: image.name, with: fit.data(of: image))
            #expect(rewritten == bytes, "\(image.name)")
        }
    }

    @Test func keepsTheFreeSpaceDTCLeft() throws {
        let dtb = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.dtbPath(BootImageFixture.evb)))
        #expect(dtb.freeSpaceAtEnd == 500, "the recipe compiles dtbs with dtc -p 500")
        var reserved = try FlatDeviceTree(bytes: dtb.bytes + [1, 2, 3], reservingFreeSpace: 1000)
        #expect(reserved.totalSize == dtb.totalSize + 1000 && reserved.freeSpaceAtEnd == 1500)
        #expect(try reserved.reg(at: "/reserved-memory/ion_npu_mem") == dtb.reg(at: "/reserved-memory/ion_npu_mem"))
        try reserved.pack(leavingFreeSpace: 500)
        #expect(reserved.bytes == dtb.bytes, "packed with 500 free bytes: what dtc wrote")
        #expect(throws: DeviceTreeError.self) { try FlatDeviceTree(bytes: Array("not a dtb".utf8), reservingFreeSpace: 64) }
        #expect(throws: DeviceTreeError.truncated(declaredBytes: dtb.totalSize, availableBytes: 100)) {
            try FlatDeviceTree(bytes: Array(dtb.bytes.prefix(100)), reservingFreeSpace: 64)
        }
    }

    // MARK: Refusals

    @Test func refusesASignedImage() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes("bad/signed.itb"))
        let dtb = try fit.data(of: fit.image(named: "fdt-1"))
        let error = #expect(throws: FITError.signed(signatureNodes: ["/configurations/config-1/signature-1"])) {
            try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-1", with: dtb)
        }
        #expect(error?.description.contains("signing key") == true)
    }

    @Test func refusesAnUnknownHashAlgorithmAndWritesNothingWrong() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes("bad/unknown-hash-algo.itb"))
        let dtb = try Edit.setReg.apply(to: fit.data(of: fit.image(named: "fdt-2")))
        let expected = FITError.unsupportedHashAlgorithm(image: "fdt-2", hashNode: "hash-1", algorithm: "md5")
        #expect(throws: expected) { try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-2", with: dtb) }
        #expect(expected.description.contains("md5"))
        // Another dtb of the same image is fine, and fdt-2 (with its md5 node) is left exactly as it was.
        let evb = try Edit.setReg.apply(to: fit.data(of: fit.image(named: "fdt-1")))
        let rewritten = try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-1", with: evb)
        let result = try FITRewriter.verify(rewritten, original: fit, changedImage: "fdt-1", data: evb)
        #expect(try result.image(named: "fdt-2") == fit.image(named: "fdt-2"))
    }

    @Test func refusesWhatIsNotAnUncompressedDTB() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        let dtb = try fit.data(of: fit.image(named: "fdt-1"))
        #expect(throws: FITRewriteError.notADeviceTreeImage(image: "kernel-1", type: "kernel")) {
            try FITRewriter.replacingDeviceTree(in: fit, image: "kernel-1", with: dtb)
        }
        #expect(throws: FITError.imageNotFound(name: "fdt-9")) {
            try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-9", with: dtb)
        }
        for bad in [Array("not a dtb".utf8), Array(dtb.prefix(100)), dtb + [0, 0, 0, 0]] {
            let error = #expect(throws: FITRewriteError.self) {
                try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-1", with: bad)
            }
            guard case .replacementIsNotADeviceTree(let image, _)? = error else {
                Issue.record("expected replacementIsNotADeviceTree, got \(String(describing: error))")
                continue
            }
            #expect(image == "fdt-1")
        }
        // A gzip-compressed dtb image.
        var tree = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        try tree.setString("compression", to: "gzip", at: "/images/fdt-3")
        let compressed = try FITImage(bytes: tree.bytes)
        #expect(throws: FITRewriteError.compressedImage(image: "fdt-3", compression: "gzip")) {
            try FITRewriter.replacingDeviceTree(in: compressed, image: "fdt-3", with: dtb)
        }
    }

    @Test func verifyCatchesChangesToOtherImages() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        let dtb = try Edit.grow.apply(to: fit.data(of: fit.image(named: "fdt-2")))
        let rewritten = try FITRewriter.replacingDeviceTree(in: fit, image: "fdt-2", with: dtb)

        var kernelFlipped = rewritten
        let kernel = try #require(try fit.image(named: "kernel-1").data)
        kernelFlipped[kernel.fileOffset + 1000] ^= 0x01
        #expect(throws: FITRewriteError.verificationFailed(reason: "the data of image 'kernel-1' changed")) {
            _ = try FITRewriter.verify(kernelFlipped, original: fit, changedImage: "fdt-2", data: dtb)
        }
        #expect(throws: FITRewriteError.verificationFailed(reason: "image 'fdt-2' does not hold the new data")) {
            _ = try FITRewriter.verify(rewritten, original: fit, changedImage: "fdt-2", data: Edit.shrink.apply(to: dtb))
        }
        // A stale hash of the changed image is a hash mismatch.
        var stale = try FlatDeviceTree(bytes: rewritten)
        try stale.setProperty("value", to: fit.image(named: "fdt-2").hashes[0].value, at: "/images/fdt-2/hash-1")
        let error = #expect(throws: FITError.self) {
            _ = try FITRewriter.verify(stale.bytes, original: fit, changedImage: "fdt-2", data: dtb)
        }
        guard case .hashMismatch(let image, _, _, _, _)? = error else {
            Issue.record("expected a hash mismatch, got \(String(describing: error))")
            return
        }
        #expect(image == "fdt-2")
    }
}

/// Checks a rewritten FIT with U-Boot's and dtc's tools and independent hash programs.
struct UBootJudge {
    var scratch: URL

    func check(_ rewritten: [UInt8], original: URL, changed: String, newDTB: [UInt8]) throws {
        let output = scratch.appendingPathComponent("rewritten.itb")
        try Data(rewritten).write(to: output)

        // dumpimage -l accepts it and lists the same images in the same order.
        let listing = try DumpImageListing(file: output)
        let originalListing = try DumpImageListing(file: original)
        #expect(listing.images.map(\.name) == originalListing.images.map(\.name))
        #expect(listing.configurations == originalListing.configurations)

        // dumpimage extracts the new dtb for the changed image and the recipe's own inputs for every other one.
        let work = original.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fit-16g/work")
        var extracted: [URL] = []
        for image in listing.images {
            let file = scratch.appendingPathComponent("image-\(image.index).bin")
            _ = try Tool.output("dumpimage", ["-T", "flat_dt", "-p", "\(image.index)", "-o", file.path, output.path])
            extracted.append(file)
            let bytes = [UInt8](try Data(contentsOf: file))
            if image.name == changed {
                #expect(bytes == newDTB, "\(image.name) holds the new dtb")
            } else {
                let source = originalSource(of: image.name, original: original, work: work)
                #expect(bytes == [UInt8](try Data(contentsOf: source)), "\(image.name) is unchanged")
            }
        }
        let changedIndex = try #require(listing.images.firstIndex { $0.name == changed })
        #expect(try Tool.fdtgetHex(extracted[changedIndex], "/reserved-memory/ion_npu_mem", "reg")
            == [0x1, 0x2410_0000, 0x1, 0x0])

        // Every stored hash is what sha256sum, sha1sum and zlib compute from the extracted bytes.
        let digests = try IndependentDigests(files: extracted)
        for (image, file) in zip(listing.images, extracted) {
            #expect(!image.hashes.isEmpty)
            for hash in image.hashes {
                let (algo, value) = (String(hash.prefix { $0 != ":" }), String(hash.drop { $0 != ":" }.dropFirst()))
                #expect(value == digests.value(algo, of: file), "\(image.name) \(algo)")
            }
        }
        #expect(listing.images.filter { $0.name != changed }.map(\.hashes)
            == originalListing.images.filter { $0.name != changed }.map(\.hashes))

        // mkimage -F recomputes every hash of a copy and finds nothing to change. (mkimage 2023.01 -F cannot read
        // data-position images: "Can't get image data/size", on the fixture as made by mkimage too.)
        guard try !Tool.output("fdtget", ["-p", output.path, "/images/" + changed]).contains("data-position") else { return }
        let copy = scratch.appendingPathComponent("mkimage-F.itb")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: output, to: copy)
        _ = try Tool.output("mkimage", ["-F", copy.path])
        #expect(try DumpImageListing(file: copy).images.map(\.hashes) == listing.images.map(\.hashes))
        for node in try Tool.output("fdtget", ["-l", output.path, "/images/" + changed]).split(separator: "\n") {
            let path = "/images/\(changed)/\(node)"
            #expect(try Tool.fdtgetHex(copy, path, "value") == Tool.fdtgetHex(output, path, "value"), "\(path)")
        }
    }

    /// The file the recipe built an image from: `work/Image`, `work/ramdisk.cpio.gz` or `work/<board>.dtb`.
    private func originalSource(of image: String, original: URL, work: URL) -> URL {
        let ownWork = original.deletingLastPathComponent().appendingPathComponent("work")
        let directory = FileManager.default.fileExists(atPath: ownWork.path) ? ownWork : work
        switch image {
        case "kernel-1": return directory.appendingPathComponent("Image")
        case "ramdisk-1": return directory.appendingPathComponent("ramdisk.cpio.gz")
        default:
            let n = Int(image.dropFirst(4))!
            return directory.appendingPathComponent(BootImageFixture.familyDTBs[n - 1] + ".dtb")
        }
    }
}

/// crc32 (python3's zlib), sha1sum and sha256sum of files, as lowercase hex.
struct IndependentDigests {
    private var values: [String: [String: String]] = [:]  // algo → path → hex

    init(files: [URL]) throws {
        let paths = files.map(\.path)
        for (algo, tool) in [("sha1", "sha1sum"), ("sha256", "sha256sum")] {
            for line in try Tool.output(tool, paths).split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                values[algo, default: [:]][parts[1].trimmingCharacters(in: .whitespaces)] = String(parts[0])
            }
        }
        let crc = "import sys, zlib\nfor p in sys.argv[1:]: print('%08x %s' % (zlib.crc32(open(p, 'rb').read()), p))"
        for line in try Tool.output("python3", ["-c", crc] + paths).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            values["crc32", default: [:]][String(parts[1])] = String(parts[0])
        }
    }

    func value(_ algo: String, of file: URL) -> String? { values[algo]?[file.path] }
}
