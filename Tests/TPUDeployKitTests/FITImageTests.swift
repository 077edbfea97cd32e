import Foundation
import Testing

@testable import TPUDeployKit

/// FIT boot images made by the project's recipe, compared with what U-Boot's `dumpimage` reads from them.
@Suite struct FITImageTests {
    @Test(arguments: [BootImageFixture.fit16GB, BootImageFixture.fit12GB, "external/data-offset.itb", "external/data-position.itb"])
    func listsImagesLikeDumpimage(_ fixture: String) throws {
        let url = try BootImageFixture.url(fixture)
        let fit = try FITImage(bytes: BootImageFixture.bytes(fixture))
        let listing = try DumpImageListing(file: url)

        #expect(fit.description == listing.description)
        #expect(fit.images.map(\.name) == listing.images.map(\.name))
        #expect(fit.images.map { $0.description ?? "" } == listing.images.map(\.description))
        #expect(fit.images.map { $0.data?.size ?? -1 } == listing.images.map(\.dataSize))
        #expect(fit.images.map { $0.hashes.map { "\($0.algo):\($0.hexValue)" } } == listing.images.map(\.hashes))
        #expect(fit.defaultConfiguration == listing.defaultConfiguration)
        #expect(fit.configurations.map(\.name) == listing.configurations.map(\.name))
        #expect(fit.configurations.map { [$0.kernel, $0.ramdisk, $0.fdt] } == listing.configurations.map { [$0.kernel, $0.ramdisk, $0.fdt] })
        #expect(fit.isSigned == false)

        let kernel = try fit.image(named: "kernel-1")
        #expect(kernel.type == "kernel" && kernel.arch == "arm64" && kernel.os == "linux" && kernel.compression == "none")
        #expect(kernel.load == 0x280000 && kernel.entry == 0x280000)
        #expect(fit.images.filter(\.isDeviceTree).count == 5)
    }

    @Test func hashesOfEveryImageVerify() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        let algorithms = Set(fit.images.flatMap { $0.hashes.map(\.algo) })
        #expect(algorithms == ["crc32", "sha1", "sha256"])
        for image in fit.images { try fit.verifyHashes(of: image) }
    }

    @Test(arguments: ["external/data-offset.itb", "external/data-position.itb"])
    func externalDataIsFoundAfterTheTree(_ fixture: String) throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(fixture))
        let kernel = try fit.image(named: "kernel-1")
        #expect(kernel.data?.storage == (fixture.contains("offset") ? .externalOffset : .externalPosition))
        #expect(try fit.data(of: kernel) == BootImageFixture.bytes("fit-16g/work/Image"))
        #expect(try fit.data(of: fit.image(named: "ramdisk-1")) == BootImageFixture.bytes("fit-16g/work/ramdisk.cpio.gz"))
        for image in fit.images { try fit.verifyHashes(of: image) }
        let (image, tree) = try fit.deviceTreeImage(forDTB: "bm1684x_evb_v0.0.dtb")
        #expect(image.name == "fdt-1")
        #expect(tree.bytes == (try BootImageFixture.bytes(BootImageFixture.dtbPath(BootImageFixture.evb))))
    }

    @Test(arguments: [BootImageFixture.fit16GB, BootImageFixture.fit12GB])
    func findsEachBoardDTBByFileName(_ fixture: String) throws {
        let url = try BootImageFixture.url(fixture)
        let fit = try FITImage(bytes: BootImageFixture.bytes(fixture))
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (position, name) in BootImageFixture.familyDTBs.enumerated() {
            let (image, tree) = try fit.deviceTreeImage(forDTB: name + ".dtb")
            #expect(image.name == "fdt-\(position + 1)")
            #expect(try fit.deviceTreeImage(forDTB: name).image == image, "accepted without .dtb")
            #expect(try tree.string("file-name", at: "/info") == name + ".dtb")
            // The same bytes U-Boot extracts, and the dtb the recipe compiled.
            let extracted = scratch.appendingPathComponent(name + ".dtb")
            _ = try Tool.output("dumpimage", ["-T", "flat_dt", "-p", "\(position + 2)", "-o", extracted.path, url.path])
            #expect(tree.bytes == [UInt8](try Data(contentsOf: extracted)))
            #expect(tree.bytes == (try BootImageFixture.bytes(BootImageFixture.dtbPath(name, of: fixture))))
        }
    }

    @Test func fallsBackToTheImageDescription() throws {
        // A dtb without /info: only the image description names it.
        var fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        var tree = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.dtbPath("bm1684x_sm7m_v0.0")))
        try tree.removeNode(at: "/info")
        var its = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        try its.setProperty("data", to: tree.bytes, at: "/images/fdt-4")
        for hash in try its.subnodeNames(of: "/images/fdt-4") { try its.removeNode(at: "/images/fdt-4/" + hash) }
        fit = try FITImage(bytes: its.bytes)
        #expect(try fit.deviceTreeImage(forDTB: "bm1684x_sm7m_v0.0.dtb").image.name == "fdt-4")
    }

    // MARK: Bad images

    @Test func truncatedImage() throws {
        let full = try BootImageFixture.bytes(BootImageFixture.fit16GB).count
        #expect(throws: FITError.truncated(declaredBytes: full, availableBytes: full / 2)) {
            try FITImage(bytes: BootImageFixture.bytes("bad/truncated.itb"))
        }
    }

    @Test func flippedByteFailsTheHashCheck() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes("bad/flipped-byte.itb"))
        let error = #expect(throws: FITError.self) { try fit.deviceTreeImage(forDTB: "bm1684x_evb_v0.0.dtb") }
        guard case .hashMismatch(let image, let hashNode, let algorithm, let stored, _) = error else {
            Issue.record("expected a hash mismatch, got \(String(describing: error))")
            return
        }
        #expect(image == "fdt-1" && hashNode == "hash-1" && algorithm == "crc32")
        #expect(stored == (try DumpImageListing(file: BootImageFixture.url("bad/flipped-byte.itb")).images[2].hashes[0].dropFirst(6)))
        // The other boards' dtbs are intact.
        #expect(try fit.deviceTreeImage(forDTB: "bm1684x_se7_v1").image.name == "fdt-2")
    }

    @Test func signedImageIsRecognised() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes("bad/signed.itb"))
        #expect(fit.isSigned)
        #expect(fit.signatureNodes == ["/configurations/config-1/signature-1"])
        #expect(throws: FITError.signed(signatureNodes: ["/configurations/config-1/signature-1"])) { try fit.requireUnsigned() }
        // Reading still works: inspect can show a signed image's layout.
        #expect(try fit.deviceTreeImage(forDTB: "bm1684x_evb_v0.0").image.name == "fdt-1")
        #expect(try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB)).requireUnsigned() == ())
    }

    @Test func imageWithoutTheBoardsDTB() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes("bad/without-board-dtb.itb"))
        let expected = FITError.deviceTreeNotFound(
            fileName: "bm1684x_evb_v0.0.dtb", available: BootImageFixture.familyDTBs.dropFirst().map { $0 + ".dtb" })
        #expect(throws: expected) { try fit.deviceTreeImage(forDTB: "bm1684x_evb_v0.0.dtb") }
        #expect(expected.description.contains("bm1684x_se7_v1.dtb, bm1684x_se7_v1_12g.dtb"))
    }

    @Test func externalDataPastTheEndOfTheFile() throws {
        let bytes = try BootImageFixture.bytes("bad/external-out-of-bounds.itb")
        let error = #expect(throws: FITError.self) { try FITImage(bytes: bytes) }
        guard case .externalDataOutOfBounds(let image, _, let size, let fileBytes) = error else {
            Issue.record("expected externalDataOutOfBounds, got \(String(describing: error))")
            return
        }
        #expect(image == "kernel-1" && size == 256 * 1024 && fileBytes == bytes.count)
    }

    @Test func plainFilesAndPlainDTBsAreNotFITs() throws {
        let error = #expect(throws: FITError.self) { try FITImage(bytes: BootImageFixture.bytes("bad/not-a-fit.its")) }
        guard case .notAFlattenedDeviceTree = error else {
            Issue.record("expected notAFlattenedDeviceTree, got \(String(describing: error))")
            return
        }
        #expect(throws: FITError.noImages) {
            try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.dtbPath(BootImageFixture.evb)))
        }
        #expect(throws: FITError.self) { try FITImage(bytes: [0xD0, 0x0D]) }
    }

    @Test func unknownImageName() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit16GB))
        #expect(throws: FITError.imageNotFound(name: "fdt-9")) { try fit.image(named: "fdt-9") }
    }
}
