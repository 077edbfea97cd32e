import Foundation
import Testing

@testable import TPUDeployKit

/// The rewrite made in the file's own buffer (`FITRewrite.apply(to:)`, what `fix-memory` without verification and
/// the benchmark use) gives the same file as the rewrite into a new buffer, which `FITRewriterTests` has U-Boot's
/// tools judge, and leaves the 30 MB buffer where it was.
@Suite struct FITRewriteInPlaceTests {
    typealias Edit = FITRewriterTests.Edit

    /// The planned rewrite of `image`, made from a FIT that is gone when this returns, so `file` is unshared.
    private static func rewrite(of file: [UInt8], image: String, edit: Edit) throws -> (FITRewrite, newDTB: [UInt8]) {
        let fit = try FITImage(bytes: file)
        let newDTB = try edit.apply(to: fit.data(of: fit.image(named: image)))
        return (try FITRewriter.deviceTreeRewrite(in: fit, image: image, with: newDTB), newDTB)
    }

    private static func address(_ bytes: [UInt8]) -> UnsafeRawPointer? { bytes.withUnsafeBytes { $0.baseAddress } }

    @Test(arguments: [BootImageFixture.fit16GB, BootImageFixture.fit12GB], ["fdt-1", "fdt-3", "fdt-5"])
    func theFileIsEditedWhereItLies(_ fixture: String, _ image: String) throws {
        let path = try BootImageFixture.url(fixture).path
        let original = try FITImage(bytes: BootImageFixture.bytes(fixture))
        for edit in Edit.allCases {
            var file = try LocalFile.read(path, spareCapacity: FITRewriter.roomToGrow)
            let before = Self.address(file)
            let (rewrite, newDTB) = try Self.rewrite(of: file, image: image, edit: edit)
            try rewrite.apply(to: &file)
            #expect(Self.address(file) == before, "\(edit): the file's buffer was copied")
            let copied = try FITRewriter.replacingDeviceTree(in: original, image: image, with: newDTB)
            #expect(file == copied, "\(edit): not the file the copying rewrite writes")
            try FITRewriter.verify(file, original: original, changedImage: image, data: newDTB, checkingEveryHash: true)
        }
    }

    @Test func theSameDTBLeavesTheFileAsItWas() throws {
        let bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        let fit = try FITImage(bytes: bytes)
        for image in fit.images where image.isDeviceTree {
            var file = bytes
            try FITRewriter.deviceTreeRewrite(in: fit, image: image.name, with: fit.data(of: image)).apply(to: &file)
            #expect(file == bytes, "\(image.name)")
        }
    }

    /// Bytes after an embedded-data tree (mkimage writes none) stay after it, wherever the tree now ends.
    @Test(arguments: Edit.allCases)
    func bytesAfterTheTreeFollowIt(_ edit: Edit) throws {
        let bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        let trailer: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
        let (plain, newDTB) = try Self.rewrite(of: bytes, image: "fdt-2", edit: edit)
        var expected = bytes
        try plain.apply(to: &expected)
        var file = bytes + trailer
        let (withTrailer, _) = try Self.rewrite(of: file, image: "fdt-2", edit: edit)
        try withTrailer.apply(to: &file)
        #expect(file == expected + trailer)
        #expect(try FITImage(bytes: file).data(of: FITImage(bytes: file).image(named: "fdt-2")) == newDTB)
    }

    /// `BootImageEdit` without verification edits the given buffer; with it, it writes the same bytes into a new one.
    @Test func anUnverifiedEditIsTheVerifiedOne() throws {
        let path = try BootImageFixture.url(BootImageFixture.fit16GB).path
        let sizing = LayoutSizing.explicit(HeapSizes(npu: .mebibytes(7168), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))
        let verified = try BootImageEdit(
            image: LocalFile.read(path), dtb: BootImageFixture.evb, sizing: sizing, minimumLinuxMiB: 2048)
        let unverified = try BootImageEdit(
            image: LocalFile.read(path, spareCapacity: FITRewriter.roomToGrow), dtb: BootImageFixture.evb,
            sizing: sizing, minimumLinuxMiB: 2048, verifying: false)
        let edited = try #require(verified.editedImage)
        #expect(unverified.editedImage == edited)
        #expect(unverified.plan == verified.plan && unverified.fdtImage == verified.fdtImage)
        #expect(try LocalFile.read(path) != edited, "the request changes the layout")
    }
}
