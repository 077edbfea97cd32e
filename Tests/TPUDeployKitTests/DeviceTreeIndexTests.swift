import Foundation
import Testing

@testable import TPUDeployKit

/// The lazy structure walk: it must learn a FIT's layout from a few small reads, as it will over SFTP.
@Suite struct DeviceTreeIndexTests {
    /// Counts what a parser reads, like the SFTP reader's round trips.
    final class CountingBytes: RandomAccessBytes, @unchecked Sendable {
        let contents: InMemoryBytes
        private(set) var calls = 0
        private(set) var bytesRead = 0
        init(_ bytes: [UInt8]) { contents = InMemoryBytes(bytes) }
        var count: Int { contents.count }
        func bytes(at offset: Int, count: Int) throws -> [UInt8] {
            calls += 1
            bytesRead += count
            return try contents.bytes(at: offset, count: count)
        }
    }

    @Test func learnsTheLayoutFromFewSmallReads() throws {
        let url = try BootImageFixture.url(BootImageFixture.fit16GB)
        let source = CountingBytes(try BootImageFixture.bytes(BootImageFixture.fit16GB))
        let fit = try FITImage(source: source)
        let (image, tree) = try fit.deviceTreeImage(forDTB: BootImageFixture.evb)
        let layout = try BoardMemoryLayout(deviceTree: tree)

        // Header, strings block, and three 16 KiB structure chunks (before the kernel data, before the ramdisk
        // data, the dtbs and configurations); the kernel and ramdisk (512 KiB here, ~30 MB on a board) are skipped.
        #expect(source.bytesRead <= 64 * 1024, "read \(source.bytesRead) of \(source.count) bytes")
        #expect(source.calls <= 6, "\(source.calls) reads")
        #expect(layout.heap(.npu)?.size == 0xF6E0_0000)

        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let extracted = scratch.appendingPathComponent("fdt-1.dtb")
        _ = try Tool.output("dumpimage", ["-T", "flat_dt", "-p", "2", "-o", extracted.path, url.path])
        #expect(tree.bytes == [UInt8](try Data(contentsOf: extracted)))
        #expect(image.data?.storage == .embedded)
    }

    @Test func externalDataImagesAreReadLazilyToo() throws {
        let source = CountingBytes(try BootImageFixture.bytes("external/data-offset.itb"))
        let fit = try FITImage(source: source)
        _ = try fit.deviceTreeImage(forDTB: BootImageFixture.evb)
        #expect(source.bytesRead < source.count / 10, "read \(source.bytesRead) of \(source.count) bytes")
    }

    @Test func indexMatchesFdtget() throws {
        let url = try BootImageFixture.url(BootImageFixture.fit16GB)
        let index = try DeviceTreeIndex(source: InMemoryBytes(BootImageFixture.bytes(BootImageFixture.fit16GB)))
        for path in ["/", "/images", "/images/kernel-1", "/images/fdt-3", "/configurations"] {
            let node = try #require(index.node(at: path))
            let children = try Tool.output("fdtget", ["-l", url.path, path]).split(separator: "\n").map(String.init)
            let properties = try Tool.output("fdtget", ["-p", url.path, path]).split(separator: "\n").map(String.init)
            #expect(node.childNames == children, "\(path)")
            #expect(node.properties.map(\.name) == properties, "\(path)")
        }
        let kernelData = try #require(index.node(at: "/images/kernel-1")?.property("data"))
        #expect(kernelData.value == nil && kernelData.length == 256 * 1024)
        let bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        #expect(Array(bytes[kernelData.valueOffset..<(kernelData.valueOffset + kernelData.length)])
            == (try BootImageFixture.bytes("fit-16g/work/Image")))
    }

    @Test func damagedStructureIsReported() throws {
        var bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        bytes[0x38 + 3] = 0x7F  // the root's BEGIN_NODE token
        #expect(throws: FITError.malformedTree(reason: "unknown token 0x7f at file offset 56")) {
            try DeviceTreeIndex(source: InMemoryBytes(bytes))
        }
        bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        bytes[0x20..<0x24] = [0, 0xFF, 0xFF, 0xFF]  // size_dt_strings far too large
        #expect(throws: FITError.self) { try DeviceTreeIndex(source: InMemoryBytes(bytes)) }
    }
}
