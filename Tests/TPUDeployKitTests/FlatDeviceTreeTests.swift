import Foundation
import Testing

@testable import TPUDeployKit

/// The libfdt wrapper, checked against dtc's `fdtget` on the dtbs the boot-image recipe compiles.
@Suite struct FlatDeviceTreeTests {
    let dtbURL: URL
    let tree: FlatDeviceTree

    init() throws {
        dtbURL = try BootImageFixture.url(BootImageFixture.dtbPath(BootImageFixture.evb))
        tree = try FlatDeviceTree(bytes: [UInt8](Data(contentsOf: dtbURL)))
    }

    @Test func readsStringsLikeFdtget() throws {
        #expect(try tree.string("model", at: "/") == Tool.output("fdtget", [dtbURL.path, "/", "model"]))
        #expect(try tree.string("file-name", at: "/info") == Tool.output("fdtget", [dtbURL.path, "/info", "file-name"]))
        #expect(try tree.stringList("compatible", at: "/reserved-memory/linux,cma") == ["shared-dma-pool"])
        #expect(try tree.string("no-such-property", at: "/") == nil)
    }

    @Test func listsNodesAndPropertiesLikeFdtget() throws {
        let children = try Tool.output("fdtget", ["-l", dtbURL.path, "/reserved-memory"]).split(separator: "\n").map(String.init)
        #expect(try tree.subnodeNames(of: "/reserved-memory") == children)
        #expect(children.count == 11)
        let properties = try Tool.output("fdtget", ["-p", dtbURL.path, "/reserved-memory/ion_npu_mem"]).split(separator: "\n").map(String.init)
        #expect(try tree.propertyNames(at: "/reserved-memory/ion_npu_mem") == properties)
    }

    @Test func readsCellsLikeFdtget() throws {
        for name in try tree.subnodeNames(of: "/reserved-memory") {
            let path = "/reserved-memory/" + name
            guard let cells = try tree.u32Array("reg", at: path) else { continue }
            #expect(try cells.map(UInt64.init) == Tool.fdtgetHex(dtbURL, path, "reg"), "\(path)")
        }
        #expect(try tree.addressCells(of: "/") == 2)
        #expect(try tree.sizeCells(of: "/reserved-memory") == 2)
        #expect(try tree.cells("reg", at: "/memory", widths: [2, 2]) == [
            [0x1_0000_0000, 0x1_0000_0000], [0x2_0000_0000, 0x1_0000_0000],
            [0x3_0000_0000, 0x1_0000_0000], [0x4_0000_0000, 0x1_0000_0000],
        ])
        #expect(try tree.reg(at: "/reserved-memory/ion_npu_mem") == [AddressRange(start: 0x1_2410_0000, size: 0xF6E0_0000)])
    }

    @Test func resolvesPhandles() throws {
        let npu = "/reserved-memory/ion_npu_mem"
        let phandle = try #require(try tree.phandle(of: npu))
        #expect(try [UInt64(phandle)] == Tool.fdtgetHex(dtbURL, npu, "phandle"))
        #expect(try tree.path(forPhandle: phandle) == npu)
        // The TPU's 4th memory-region is the NPU heap, its 5th the VPP heap.
        let regions = try #require(try tree.u32Array("memory-region", at: "/bmtpu@1f000000"))
        #expect(try tree.path(forPhandle: regions[3]) == npu)
        #expect(try tree.path(forPhandle: regions[4]) == "/reserved-memory/ion_vpp_mem")
        #expect(try tree.phandle(of: "/chosen") == nil)
        #expect(try tree.path(forPhandle: 0xDEAD) == nil)
    }

    @Test func reportsMissingNodesWithLibfdtText() throws {
        let error = #expect(throws: DeviceTreeError.self) { try tree.property("reg", at: "/no-such-node") }
        #expect(error?.isNotFound == true)
        #expect(error?.description.contains("FDT_ERR_NOTFOUND") == true)
        #expect(error?.description.contains("/no-such-node") == true)
    }

    @Test func rejectsBytesThatAreNotADeviceTree() throws {
        #expect(throws: DeviceTreeError.self) { try FlatDeviceTree(bytes: Array("/dts-v1/; / { };".utf8)) }
        #expect(throws: DeviceTreeError.self) { try FlatDeviceTree(bytes: []) }
        let bytes = tree.bytes
        #expect(throws: DeviceTreeError.truncated(declaredBytes: bytes.count, availableBytes: 1000)) {
            try FlatDeviceTree(bytes: Array(bytes.prefix(1000)))
        }
        var corrupt = bytes
        corrupt[0x3C] = 0x77  // the first structure token after the header's reserve map
        #expect(throws: DeviceTreeError.self) { try FlatDeviceTree(bytes: corrupt) }
    }

    @Test func byteRoundTripIsExact() throws {
        let original = [UInt8](try Data(contentsOf: dtbURL))
        #expect(tree.bytes == original)
        #expect(tree.totalSize == original.count)
        // Bytes after the tree (as in a FIT's external data) are not part of it.
        #expect(try FlatDeviceTree(bytes: original + [1, 2, 3]).bytes == original)
    }

    // MARK: Writes

    @Test func setRegIsReadBackByFdtget() throws {
        var edited = tree
        let npu = "/reserved-memory/ion_npu_mem"
        try edited.setReg([AddressRange(start: 0x1_2410_0000, size: 0x1_DBF0_0000)], at: npu)
        #expect(try edited.reg(at: npu) == [AddressRange(start: 0x1_2410_0000, size: 0x1_DBF0_0000)])
        #expect(try tree.reg(at: npu) == [AddressRange(start: 0x1_2410_0000, size: 0xF6E0_0000)], "the copy is untouched")
        let file = try write(edited)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try Tool.fdtgetHex(file, npu, "reg") == [0x1, 0x2410_0000, 0x1, 0xDBF0_0000])
    }

    @Test func addsAndRemovesNodesAndProperties() throws {
        var edited = tree
        let path = try edited.addNode("ion_test_mem", under: "/reserved-memory")
        #expect(path == "/reserved-memory/ion_test_mem")
        try edited.setString("compatible", to: "test-region", at: path)
        try edited.setCells("reg", to: [[0x4_0000_0000, 0x100_0000]], widths: [2, 2], at: path)
        try edited.setProperty("no-map", to: [], at: path)
        try edited.setU32Array("record-size", to: [0x20000], at: "/reserved-memory/ramoops_mem")
        #expect(throws: DeviceTreeError.self) { try edited.addNode("ion_test_mem", under: "/reserved-memory") }

        var file = try write(edited)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try Tool.output("fdtget", [file.path, path, "compatible"]) == "test-region")
        #expect(try Tool.fdtgetHex(file, path, "reg") == [0x4, 0x0, 0x0, 0x100_0000])
        // libfdt inserts a new node as its parent's first child.
        #expect(try Tool.output("fdtget", ["-l", file.path, "/reserved-memory"]).hasPrefix("ion_test_mem\n"))

        try edited.removeNode(at: "/reserved-memory/ion_vpu_mem")
        #expect(try edited.removeProperty("no-map", at: path))
        #expect(try edited.removeProperty("no-map", at: path) == false)
        #expect(throws: DeviceTreeError.self) { try edited.removeNode(at: "/reserved-memory/ion_vpu_mem") }
        try? FileManager.default.removeItem(at: file)
        file = try write(edited)
        #expect(try Tool.run("fdtget", [file.path, "/reserved-memory/ion_vpu_mem", "reg"]).status != 0)
        #expect(try Set(Tool.output("fdtget", ["-p", file.path, path]).split(separator: "\n")) == ["compatible", "reg"])
        #expect(try Tool.run("dtc", ["-q", "-I", "dtb", "-O", "dts", "-o", "/dev/null", file.path]).status == 0)
    }

    @Test func growsPastItsBuffer() throws {
        var edited = tree
        let before = edited.totalSize
        let big = [UInt8](repeating: 0xA5, count: 8 * 1024)
        for index in 0..<16 {
            try edited.setProperty("blob-\(index)", to: big, at: "/chosen")
        }
        #expect(edited.totalSize >= before + 16 * big.count)
        try edited.pack()
        let file = try write(edited)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try Tool.output("fdtget", ["-t", "bx", file.path, "/chosen", "blob-15"]).split(separator: " ").count == big.count)
        #expect(try Tool.output("fdtget", [file.path, "/", "model"]) == "Sophgo BM1684X EVB")
        #expect(try FlatDeviceTree(bytes: edited.bytes).property("blob-7", at: "/chosen") == big)
    }

    private func write(_ tree: FlatDeviceTree) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tpudeploy-\(UUID().uuidString).dtb")
        try Data(tree.bytes).write(to: file)
        return file
    }
}
