import Foundation
import Testing

@testable import TPUDeployKit

/// Applying plans to dtbs: removing and restoring heaps, keeping phandle references valid, tpudeploy's own
/// refusals, and the written blob read back with dtc and fdtget.
@Suite struct LayoutEditorTests {
    static let mib = MemoryPlanner.mebibyte
    static let boards: [(name: String, factory: HeapRequest)] = [
        ("16g", HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072)),
        ("12g", HeapRequest(npuMiB: 3519, vpuMiB: 2048, vppMiB: 3072)),
    ]
    /// The fixture dtbs' phandles: ion_npu_mem 2, ion_vpp_mem 3, ion_vpu_mem 4 (TPU memory-region <5 6 7 2 3>,
    /// vdec <8 4>).
    static let phandles: [IONHeapKind: UInt32] = [.npu: 2, .vpp: 3, .vpu: 4]

    private func board(_ name: String) throws -> FlatDeviceTree { try MemoryEditOracle.table().boardTree(name) }

    private func applied(_ request: HeapRequest, to tree: FlatDeviceTree, minimumLinuxMiB: UInt64 = 0) throws -> FlatDeviceTree {
        var tree = tree
        try MemoryPlanner.apply(MemoryPlanner.plan(request, for: tree, minimumLinuxMiB: minimumLinuxMiB), to: &tree)
        return tree
    }

    private func request(_ factory: HeapRequest, removing removed: Set<IONHeapKind>) -> HeapRequest {
        HeapRequest(
            npuMiB: removed.contains(.npu) ? 0 : factory.npuMiB, vpuMiB: removed.contains(.vpu) ? 0 : factory.vpuMiB,
            vppMiB: removed.contains(.vpp) ? 0 : factory.vppMiB)
    }

    static let removals: [Set<IONHeapKind>] = [[], [.npu], [.vpu], [.vpp], [.npu, .vpu], [.npu, .vpp], [.vpu, .vpp], [.npu, .vpu, .vpp]]

    @Test(arguments: removals)
    func everyCombinationOfRemoval(_ removed: Set<IONHeapKind>) throws {
        for (name, factory) in Self.boards {
            let tree = try applied(request(factory, removing: removed), to: board(name))
            let layout = try BoardMemoryLayout(deviceTree: tree)
            #expect(Set(layout.heaps.map(\.kind)) == Set(IONHeapKind.allCases).subtracting(removed), "\(name)")
            for kind in IONHeapKind.allCases {
                let node = MemoryPlanner.heapPath(kind)
                let child = MemoryPlanner.carveoutPath(kind)
                // Removed or not, the node keeps its phandle: the TPU node and the vdec node still name it.
                #expect(try tree.phandle(of: node) == Self.phandles[kind])
                if removed.contains(kind) {
                    #expect(try !tree.isEnabled(at: node))
                    #expect(try tree.reg(at: node) == nil)
                    #expect(!tree.containsNode(at: child))
                } else {
                    #expect(try tree.isEnabled(at: node))
                    #expect(try tree.u32Array("memory-region", at: child) == [Self.phandles[kind]!])
                    #expect(try tree.string("compatible", at: child) == MemoryPlanner.carveoutCompatible(kind))
                }
            }
            #expect(try tree.u32Array("memory-region", at: "/bmtpu@1f000000") == [5, 6, 7, 2, 3])
            #expect(try tree.u32Array("memory-region", at: "/vdec@50050000") == [8, 4])
            try expectNoDanglingMemoryRegion(tree)
            // Linux gets back what the removed heaps held.
            let factoryLayout = try BoardMemoryLayout(deviceTree: applied(factory, to: board(name)))
            let freed = removed.reduce(UInt64(0)) { $0 + factory.mebibytes($1) * Self.mib }
            #expect(layout.linuxBytes == factoryLayout.linuxBytes + freed)
        }
    }

    @Test(arguments: removals.dropFirst())
    func removeThenRestore(_ removed: Set<IONHeapKind>) throws {
        for (name, factory) in Self.boards {
            let original = try applied(factory, to: board(name))
            let removedTree = try applied(request(factory, removing: removed), to: original)
            let restored = try applied(factory, to: removedTree)
            let before = try BoardMemoryLayout(deviceTree: original)
            let after = try BoardMemoryLayout(deviceTree: restored)
            // Restored nodes are added anew, so only the order of the regions may differ.
            #expect(after.heaps == before.heaps)
            #expect(Set(after.reservedRegions.map(\.name)) == Set(before.reservedRegions.map(\.name)))
            for region in before.reservedRegions {
                #expect(after.reservedRegions.first { $0.name == region.name } == region, "\(name) \(region.name)")
            }
            for kind in IONHeapKind.allCases {
                #expect(try restored.isEnabled(at: MemoryPlanner.heapPath(kind)))
                #expect(try restored.u32Array("memory-region", at: MemoryPlanner.carveoutPath(kind)) == [Self.phandles[kind]!])
            }
            #expect(try MemoryPlanner.plan(factory, for: restored).isNoChange)
            try expectNoDanglingMemoryRegion(restored)
        }
    }

    /// memory_edit.sh deletes a removed heap's node outright, leaving the TPU / vdec references dangling. Planning on
    /// such a dtb restores the phandles as the script would and repairs the references.
    @Test func repairsWhatTheScriptLeftDangling() throws {
        var scripted = try board("16g")
        for kind in IONHeapKind.allCases {
            try scripted.removeNode(at: MemoryPlanner.heapPath(kind))
            try scripted.removeNode(at: MemoryPlanner.carveoutPath(kind))
        }
        // Keeping all heaps removed: placeholders with the referenced phandles.
        let stillRemoved = try applied(HeapRequest(npuMiB: 0, vpuMiB: 0, vppMiB: 0), to: scripted)
        for kind in IONHeapKind.allCases {
            #expect(try stillRemoved.phandle(of: MemoryPlanner.heapPath(kind)) == Self.phandles[kind])
        }
        try expectNoDanglingMemoryRegion(stillRemoved)

        // Restoring: npu and vpp take the TPU node's phandles, vpu the first free one (4, the one vdec names).
        let restored = try applied(HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072), to: scripted)
        for kind in IONHeapKind.allCases {
            #expect(try restored.phandle(of: MemoryPlanner.heapPath(kind)) == Self.phandles[kind])
        }
        #expect(try restored.u32Array("memory-region", at: "/vdec@50050000") == [8, 4])
        try expectNoDanglingMemoryRegion(restored)

        // A vdec reference that is not the phandle the script picks is pointed at the new vpu region.
        try scripted.setU32Array("memory-region", to: [8, 0x40], at: "/vdec@50050000")
        let plan = try MemoryPlanner.plan(HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072), for: scripted)
        #expect(plan.changes.contains(.setMemoryRegion(path: "/vdec@50050000", old: [8, 0x40], new: [8, 4])))
        var repaired = scripted
        try MemoryPlanner.apply(plan, to: &repaired)
        try expectNoDanglingMemoryRegion(repaired)
    }

    @Test func newVPUPhandleIsTheScriptsFirstGap() {
        #expect(HeapReferences.firstFreePhandle(among: [1, 2, 3, 5, 6, 7, 8, 2, 3]) == 4)
        #expect(HeapReferences.firstFreePhandle(among: [1, 2, 3, 2, 3]) == 4)
        #expect(HeapReferences.firstFreePhandle(among: [3, 4, 9]) == 5)
        #expect(HeapReferences.firstFreePhandle(among: []) == 1)
    }

    // MARK: tpudeploy's own refusals

    @Test func refusesOverlapWithAnotherReservedRegion() throws {
        var tree = try board("16g")
        let path = try tree.addNode("camera_mem", under: "/reserved-memory")
        try tree.setReg([AddressRange(start: 0x3_9000_0000, size: 16 * Self.mib)], at: path)
        #expect(throws: MemoryPlanError.overlap(
            region: "ion_vpu_mem", range: AddressRange(start: 0x3_7ff0_0000, size: 2048 * Self.mib),
            other: "camera_mem", otherRange: AddressRange(start: 0x3_9000_0000, size: 16 * Self.mib))) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072), for: tree)
        }
        // A smaller vpu heap clears it.
        _ = try MemoryPlanner.plan(HeapRequest(npuMiB: 3950, vpuMiB: 1024, vppMiB: 3072), for: tree)
    }

    @Test func refusesToLeaveLinuxTooLittle() throws {
        let tree = try board("16g")
        let most = HeapRequest(npuMiB: 7615, vpuMiB: 3071, vppMiB: 4096)
        let left = try MemoryPlanner.plan(most, for: tree).after.linuxBytes / Self.mib
        #expect(left < 1024)
        let error = #expect(throws: MemoryPlanError.linuxBelowMinimum(leftMiB: left, minimumMiB: 2048)) {
            try MemoryPlanner.plan(most, for: tree, minimumLinuxMiB: 2048)
        }
        #expect(error?.description.contains("leave Linux \(left) MiB") == true)
        _ = try MemoryPlanner.plan(HeapRequest(npuMiB: 7168, vpuMiB: 512, vppMiB: 512), for: tree, minimumLinuxMiB: 2048)
    }

    @Test func refusesRegionsOffTheMiBGrid() throws {
        var tree = try board("12g")
        try tree.setReg([AddressRange(start: 0x1_0000_0000, size: 0x2008_0000)], at: "/reserved-memory/armfw_mem")
        #expect(throws: MemoryPlanError.notMiBAligned(
            region: "ion_npu_mem", range: AddressRange(start: 0x1_2418_0000, size: 1024 * Self.mib))) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 1024, vpuMiB: 2048, vppMiB: 3072), for: tree)
        }
    }

    @Test func refusesBoardsTheScriptRefuses() throws {
        let factory = HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072)
        func reason(_ edit: (inout FlatDeviceTree) throws -> Void) throws -> String? {
            var tree = try board("16g")
            try edit(&tree)
            let error = #expect(throws: MemoryPlanError.self) { try MemoryPlanner.plan(factory, for: tree) }
            guard case .unsupportedLayout(let reason)? = error else { return nil }
            return reason
        }
        #expect(try reason { try $0.removeNode(at: "/bmtpu@1f000000") }?.contains("no TPU node") == true)
        #expect(try reason { try $0.removeNode(at: "/vdec@50050000") }?.contains("no video decoder node") == true)
        #expect(try reason {
            try $0.setReg([AddressRange(start: 0x1_0000_0000, size: 1 << 32), AddressRange(start: 0x3_0000_0000, size: 1 << 32)], at: "/memory")
        }?.contains("banks 0x1, 0x3") == true)
        #expect(try reason { try $0.setU32Array("memory-region", to: [5, 6, 7], at: "/bmtpu@1f000000") }?.contains("entries 4 and 5") == true)
    }

    @Test func applyRefusesAnotherTree() throws {
        let tree = try board("16g")
        let plan = try MemoryPlanner.plan(HeapRequest(npuMiB: 7168, vpuMiB: 512, vppMiB: 512), for: tree)
        var other = try board("12g")
        let untouched = other
        #expect(throws: MemoryPlanError.self) { try MemoryPlanner.apply(plan, to: &other) }
        #expect(other == untouched)
    }

    // MARK: The written blob, read by the reference tools

    @Test(arguments: [HeapRequest(npuMiB: 7168, vpuMiB: 512, vppMiB: 512), HeapRequest(npuMiB: 0, vpuMiB: 0, vppMiB: 1024)])
    func packedTreePassesDtcAndFdtget(_ request: HeapRequest) throws {
        var tree = try board("16g")
        let plan = try MemoryPlanner.plan(request, for: tree)
        try MemoryPlanner.apply(plan, to: &tree)
        try tree.pack()
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("board.dtb")
        try Data(tree.bytes).write(to: file)

        let dts = try Tool.output("dtc", ["-q", "-I", "dtb", "-O", "dts", file.path])
        #expect(dts.contains("bitmain,bitmain-ion"))
        for kind in IONHeapKind.allCases {
            let node = MemoryPlanner.heapPath(kind)
            let reg = try Tool.run("fdtget", ["-t", "x", file.path, node, "reg"])
            if let heap = plan.after.heap(kind) {
                #expect(try Tool.fdtgetHex(file, node, "reg") == [heap.start >> 32, heap.start & 0xFFFF_FFFF, heap.size >> 32, heap.size & 0xFFFF_FFFF])
                #expect(try Tool.fdtgetHex(file, MemoryPlanner.carveoutPath(kind), "memory-region") == [UInt64(Self.phandles[kind]!)])
            } else {
                #expect(reg.status != 0, "\(node) has no reg")
                #expect(try Tool.output("fdtget", [file.path, node, "status"]) == "disabled")
            }
            #expect(try Tool.fdtgetHex(file, node, "phandle") == [UInt64(Self.phandles[kind]!)])
        }
        let firmware = try #require(plan.after.reservedRegions.first { $0.name == "vpu_mem" })
        let start = try #require(firmware.start)
        #expect(try Tool.fdtgetHex(file, MemoryPlanner.vpuFirmwarePath, "reg") == [start >> 32, start & 0xFFFF_FFFF, 0, 128 * Self.mib])
        // dtc's own checks (phandle references included) pass when it compiles the decompiled source again.
        let source = directory.appendingPathComponent("board.dts")
        try dts.write(to: source, atomically: true, encoding: .utf8)
        _ = try Tool.output("dtc", ["-I", "dts", "-O", "dtb", "-o", directory.appendingPathComponent("again.dtb").path, source.path])
    }
}
