import Foundation
import Testing

@testable import TPUDeployKit

/// Board memory layouts read from the factory 16 GB and 12 GB dtbs, cross-checked with `fdtget`.
@Suite struct MemoryLayoutTests {
    static let gib: UInt64 = 1 << 30

    private func layout(_ dtb: String, of image: String = BootImageFixture.fit16GB) throws -> (BoardMemoryLayout, URL) {
        let url = try BootImageFixture.url(BootImageFixture.dtbPath(dtb, of: image))
        return (try BoardMemoryLayout(deviceTree: FlatDeviceTree(bytes: [UInt8](Data(contentsOf: url)))), url)
    }

    @Test func factory16GBLayout() throws {
        let (layout, _) = try layout(BootImageFixture.evb)
        #expect(layout.dtbFileName == "bm1684x_evb_v0.0.dtb")
        #expect(layout.banks.map(\.id) == [1, 2, 3, 4])
        #expect(layout.banks.map(\.name) == ["DDR0", "DDR1", "DDR2", "DDR3"])
        #expect(layout.banks.allSatisfy { $0.size == 4 * Self.gib && $0.start == $0.id << 32 })
        #expect(layout.totalDRAMBytes == 16 * Self.gib)
        #expect(layout.heap(.npu) == IONHeap(kind: .npu, nodeName: "ion_npu_mem", start: 0x1_2410_0000, size: 0xF6E0_0000))
        #expect(layout.heap(.vpu) == IONHeap(kind: .vpu, nodeName: "ion_vpu_mem", start: 0x3_8000_0000, size: 2 * Self.gib))
        #expect(layout.heap(.vpp) == IONHeap(kind: .vpp, nodeName: "ion_vpp_mem", start: 0x4_4000_0000, size: 3 * Self.gib))
        #expect(layout.heap(named: "npu") == layout.heap(.npu))
        #expect(layout.heap(named: "gpu") == nil)
    }

    @Test func factory12GBLayout() throws {
        let (layout, _) = try layout(BootImageFixture.se7With12GB, of: BootImageFixture.fit12GB)
        #expect(layout.dtbFileName == "bm1684x_se7_v1_12g.dtb")
        #expect(layout.banks.map(\.id) == [1, 3, 4])
        #expect(layout.totalDRAMBytes == 12 * Self.gib)
        #expect(layout.heap(.npu)?.start == 0x1_2410_0000)
        #expect(layout.heap(.npu)?.size == 0xDBF0_0000)
        #expect(layout.heap(.vpu)?.size == 2 * Self.gib)
        #expect(layout.heap(.vpp)?.size == 3 * Self.gib)
    }

    @Test func reservedRegionsMatchFdtget() throws {
        let (layout, url) = try layout(BootImageFixture.evb)
        let names = try Tool.output("fdtget", ["-l", url.path, "/reserved-memory"]).split(separator: "\n").map(String.init)
        #expect(layout.reservedRegions.map(\.name) == names)
        for region in layout.reservedRegions {
            let path = "/reserved-memory/" + region.name
            let properties = try Tool.output("fdtget", ["-p", url.path, path]).split(separator: "\n")
            if properties.contains("reg") {
                let reg = try Tool.fdtgetHex(url, path, "reg")
                #expect(region.start == reg[0] << 32 | reg[1], "\(path)")
                #expect(region.size == reg[2] << 32 | reg[3], "\(path)")
            } else {
                #expect(region.start == nil)
                let size = try Tool.fdtgetHex(url, path, "size")
                #expect(region.size == size[0] << 32 | size[1])
            }
            #expect(region.noMap == properties.contains("no-map"), "\(path)")
            #expect(region.reusable == properties.contains("reusable"), "\(path)")
            if properties.contains("phandle") {
                #expect(try region.phandle.map { [UInt64($0)] } == Tool.fdtgetHex(url, path, "phandle"))
            }
        }
        let cma = try #require(layout.reservedRegions.first { $0.name == "linux,cma" })
        #expect(cma.start == nil && cma.size == 128 << 20 && cma.reusable && cma.compatible == ["shared-dma-pool"])
        #expect(layout.reservedRegions.first { $0.name == "armfw_mem" }?.noMap == true)
    }

    /// `linuxBytes` = total DRAM − every reserved region with a `reg` that is not `reusable`, recomputed here
    /// from `fdtget` output the way the simulator does.
    @Test(arguments: [(BootImageFixture.evb, BootImageFixture.fit16GB), (BootImageFixture.se7With12GB, BootImageFixture.fit12GB)])
    func linuxBytesFollowsTheDocumentedFormula(_ dtb: String, _ image: String) throws {
        let (layout, url) = try layout(dtb, of: image)
        let memory = try Tool.fdtgetHex(url, "/memory", "reg")
        var total: UInt64 = 0
        for entry in stride(from: 0, to: memory.count, by: 4) { total += memory[entry + 2] << 32 | memory[entry + 3] }
        var reserved: UInt64 = 0
        for name in try Tool.output("fdtget", ["-l", url.path, "/reserved-memory"]).split(separator: "\n") {
            let path = "/reserved-memory/\(name)"
            let properties = try Tool.output("fdtget", ["-p", url.path, path]).split(separator: "\n")
            guard properties.contains("reg"), !properties.contains("reusable") else { continue }
            let reg = try Tool.fdtgetHex(url, path, "reg")
            reserved += reg[2] << 32 | reg[3]
        }
        #expect(layout.totalDRAMBytes == total)
        #expect(layout.linuxBytes == total - reserved)
        // 16 GB factory: 16 GiB − (512M+64M+1M+NPU+256K+64M+1M+128M+2G+3G).
        if image == BootImageFixture.fit16GB {
            #expect(layout.linuxBytes == 16 * Self.gib - (0x2000_0000 + 0x400_0000 + 0x10_0000 + 0xF6E0_0000 + 0x4_0000
                + 0x400_0000 + 0x10_0000 + 0x800_0000 + 2 * Self.gib + 3 * Self.gib))
        }
    }

    @Test func layoutFromTheBootImage() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fit12GB))
        let board = try BoardMemoryLayout(deviceTree: fit.deviceTreeImage(forDTB: BootImageFixture.se7With12GB).tree)
        #expect(board.banks.count == 3 && board.heap(.npu)?.size == 0xDBF0_0000)
        // The same image carries the EVB dtb with its usual 16 GB layout.
        let evb = try BoardMemoryLayout(deviceTree: fit.deviceTreeImage(forDTB: BootImageFixture.evb).tree)
        #expect(evb.banks.count == 4 && evb.heap(.npu)?.size == 0xF6E0_0000)
    }

    @Test func removedHeapIsAbsent() throws {
        var tree = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.dtbPath(BootImageFixture.evb)))
        try tree.removeNode(at: "/reserved-memory/ion_vpu_mem")
        let layout = try BoardMemoryLayout(deviceTree: tree)
        #expect(layout.heap(.vpu) == nil)
        #expect(layout.heaps.map(\.kind) == [.npu, .vpp])
    }

    @Test func layoutSurvivesJSON() throws {
        let (layout, _) = try layout(BootImageFixture.evb)
        let decoded = try JSONDecoder().decode(BoardMemoryLayout.self, from: JSONEncoder().encode(layout))
        #expect(decoded == layout)
    }

    @Test func missingOrMalformedMemory() throws {
        let original = try FlatDeviceTree(bytes: BootImageFixture.bytes(BootImageFixture.dtbPath(BootImageFixture.evb)))
        var tree = original
        try tree.removeNode(at: "/memory")
        #expect(throws: MemoryLayoutError.noMemoryNode) { try BoardMemoryLayout(deviceTree: tree) }

        tree = original
        try tree.setU32Array("reg", to: [0x1, 0x0, 0x1], at: "/memory")
        let error = #expect(throws: MemoryLayoutError.self) { try BoardMemoryLayout(deviceTree: tree) }
        guard case .malformedCells(let path, let property, _) = error else {
            Issue.record("expected malformedCells, got \(String(describing: error))")
            return
        }
        #expect(path == "/memory" && property == "reg")

        tree = original
        try tree.removeProperty("reg", at: "/memory")
        #expect(throws: MemoryLayoutError.missingReg(path: "/memory")) { try BoardMemoryLayout(deviceTree: tree) }

        tree = original
        try tree.removeProperty("reg", at: "/reserved-memory/ion_npu_mem")
        try tree.setU32Array("size", to: [0, 0x1000_0000], at: "/reserved-memory/ion_npu_mem")
        #expect(throws: MemoryLayoutError.heapWithoutAddress(kind: .npu, path: "/reserved-memory/ion_npu_mem")) {
            try BoardMemoryLayout(deviceTree: tree)
        }
    }
}
