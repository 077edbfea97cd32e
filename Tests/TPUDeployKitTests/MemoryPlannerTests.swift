import Foundation
import Testing

@testable import TPUDeployKit

/// The planner against Sophgo's memory_edit.sh: every row of the oracle table, on the 16 GB and 12 GB fixtures.
@Suite struct MemoryPlannerTests {
    static let mib = MemoryPlanner.mebibyte

    /// Rows where tpudeploy deliberately refuses what the script writes: with the vpu heap removed and a 3968 MiB vpp
    /// heap, the script computes a negative `vpu_mem` offset and writes 0x4_fff00000+128 MiB, past the end of DRAM.
    static let refusedOnPurpose: [String: MemoryPlanError] = [
        "16g-no-vpu-vpp-3968": .vpuFirmwareDoesNotFit(vppMiB: 3968),
        "12g-no-vpu-vpp-3968": .vpuFirmwareDoesNotFit(vppMiB: 3968),
    ]

    @Test func tableLoads() throws {
        let table = try MemoryEditOracle.table()
        #expect(table.script.version == "2.12")
        #expect(table.rows.count >= 70)
        #expect(Set(table.rows.map(\.board)) == ["16g", "12g", "16g-ramoops-moved"])
    }

    @Test(arguments: MemoryEditOracle.rowNames)
    func matchesMemoryEdit(_ name: String) throws {
        let table = try MemoryEditOracle.table()
        let row = try table.row(name)
        var tree = try table.startingTree(for: row)

        if let printed = row.printedMaxMiB {
            let limits = try MemoryPlanner.limits(for: BoardMemoryLayout(deviceTree: tree))
            #expect(limits == LayoutLimits(maxNPUMiB: printed["npu"] ?? 0, maxVPUMiB: printed["vpu"] ?? 0, maxVPPMiB: printed["vpp"] ?? 0))
            return
        }
        let request = try #require(row.request)
        if let expected = Self.refusedOnPurpose[name] {
            #expect(throws: expected) { try MemoryPlanner.plan(request, for: tree) }
            return
        }
        if row.outcome == "refused" {
            try expectRefusal(row, request: request, tree: tree)
            return
        }
        #expect(row.outcome == "written")
        let plan = try MemoryPlanner.plan(request, for: tree)
        try MemoryPlanner.apply(plan, to: &tree)
        #expect(try BoardMemoryLayout(deviceTree: tree) == plan.after)
        try expectSameDTB(tree, as: row)
    }

    /// The script's "npu size 0x… error" names the heap and the size in bytes; ours must name the same heap and
    /// size and state the maximum.
    private func expectRefusal(_ row: MemoryEditOracle.Row, request: HeapRequest, tree: FlatDeviceTree) throws {
        let message = try #require(row.messages?.first)
        let heap = try #require(IONHeapKind.allCases.first { message.hasPrefix("Error: \($0.rawValue) size ") })
        #expect(message == "Error: \(heap.rawValue) size 0x\(String(request.mebibytes(heap) * Self.mib, radix: 16)) error")
        let error = #expect(throws: MemoryPlanError.self) { try MemoryPlanner.plan(request, for: tree) }
        guard case .tooLarge(let kind, let requested, let max)? = error else {
            Issue.record("expected tooLarge, got \(String(describing: error))")
            return
        }
        #expect(kind == heap)
        #expect(requested == request.mebibytes(heap))
        #expect(max < requested)
        #expect(error?.description == "\(heap.rawValue) heap of \(requested) MiB does not fit: this board allows at most \(max) MiB")
        // The maximum is the largest size the script accepts: one MiB less plans.
        var smaller = request
        switch heap {
        case .npu: smaller.npuMiB = max
        case .vpu: smaller.vpuMiB = max
        case .vpp: smaller.vppMiB = max
        }
        _ = try MemoryPlanner.plan(smaller, for: tree)
    }

    /// Every reserved-memory `reg` and phandle, the `bitmain-ion` children, and the TPU and video decoder
    /// references are what the script wrote. Our only extra nodes are disabled placeholders of removed heaps.
    private func expectSameDTB(_ tree: FlatDeviceTree, as row: MemoryEditOracle.Row) throws {
        let expected = try #require(row.reservedMemory)
        var enabled: Set<String> = []
        for name in try tree.subnodeNames(of: "/reserved-memory") {
            let path = "/reserved-memory/" + name
            if try tree.isEnabled(at: path) {
                enabled.insert(name)
            } else {
                #expect(try tree.reg(at: path) == nil, "placeholder \(name) has no reg")
                #expect(expected[name] == nil, "\(name) is disabled but the script kept it")
            }
        }
        #expect(enabled == Set(expected.keys), "reserved-memory children")
        for (name, node) in expected {
            let path = "/reserved-memory/" + name
            guard tree.containsNode(at: path) else { continue }
            #expect(try tree.reg(at: path) == node.reg?.map(\.range), "\(name) reg")
            #expect(try tree.phandle(of: path) == node.phandle, "\(name) phandle")
            if let compatible = node.compatible { #expect(try tree.stringList("compatible", at: path)?.joined(separator: " ") == compatible) }
        }
        let ion = try #require(row.bitmainIon)
        let children = tree.containsNode(at: "/bitmain-ion") ? try tree.subnodeNames(of: "/bitmain-ion") : []
        #expect(Set(children) == Set(ion.keys), "bitmain-ion children")
        for (name, child) in ion {
            let path = "/bitmain-ion/" + name
            guard tree.containsNode(at: path) else { continue }
            #expect(try tree.string("compatible", at: path) == child.compatible)
            #expect(try tree.u32Array("memory-region", at: path) == child.memoryRegion)
        }
        #expect(try tree.u32Array("memory-region", at: "/bmtpu@1f000000") == row.tpuMemoryRegion)
        #expect(try tree.u32Array("memory-region", at: "/vdec@50050000") == row.vdecMemoryRegion)
        try expectNoDanglingMemoryRegion(tree)
    }

    // MARK: Limits and refusals with their messages

    @Test func limitsAreTheScriptsPrintedMaxima() throws {
        let table = try MemoryEditOracle.table()
        let cases: [(String, LayoutLimits)] = [
            ("16g", LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096)),
            ("12g", LayoutLimits(maxNPUMiB: 3519, maxVPUMiB: 3071, maxVPPMiB: 4096)),
            ("16g-ramoops-moved", LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 2943, maxVPPMiB: 4096)),
        ]
        for (board, limits) in cases {
            let layout = try BoardMemoryLayout(deviceTree: table.boardTree(board))
            #expect(try MemoryPlanner.limits(for: layout) == limits, "\(board)")
        }
    }

    @Test func overLargeRequestsStateTheMaximum() throws {
        let table = try MemoryEditOracle.table()
        let tree16 = try table.boardTree("16g")
        let tree12 = try table.boardTree("12g")
        let npu = #expect(throws: MemoryPlanError.tooLarge(heap: .npu, requestedMiB: 9000, maxMiB: 7615)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 9000, vpuMiB: 2048, vppMiB: 3072), for: tree16)
        }
        #expect(npu?.description == "npu heap of 9000 MiB does not fit: this board allows at most 7615 MiB")
        #expect(throws: MemoryPlanError.tooLarge(heap: .npu, requestedMiB: 3520, maxMiB: 3519)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 3520, vpuMiB: 2048, vppMiB: 3072), for: tree12)
        }
        #expect(throws: MemoryPlanError.tooLarge(heap: .vpu, requestedMiB: 3072, maxMiB: 3071)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 1, vpuMiB: 3072, vppMiB: 1), for: tree12)
        }
        // With the vpu heap removed the vpp heap leaves the top 1 MiB free: 4095, not the printed 4096.
        #expect(throws: MemoryPlanError.tooLarge(heap: .vpp, requestedMiB: 4096, maxMiB: 4095)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 3950, vpuMiB: 0, vppMiB: 4096), for: tree16)
        }
        // The script checks npu first, then vpu, then vpp.
        #expect(throws: MemoryPlanError.tooLarge(heap: .npu, requestedMiB: 8000, maxMiB: 7615)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 8000, vpuMiB: 4000, vppMiB: 5000), for: tree16)
        }
        #expect(throws: MemoryPlanError.tooLarge(heap: .vpp, requestedMiB: .max, maxMiB: 4096)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 1, vpuMiB: 1, vppMiB: .max), for: tree16)
        }
        let firmware = #expect(throws: MemoryPlanError.vpuFirmwareDoesNotFit(vppMiB: 3968)) {
            try MemoryPlanner.plan(HeapRequest(npuMiB: 3950, vpuMiB: 0, vppMiB: 3968), for: tree16)
        }
        #expect(firmware?.description.contains("at most 3967 MiB, or at least 3969 MiB") == true)
    }

    @Test func factoryRequestChangesNothing() throws {
        let table = try MemoryEditOracle.table()
        for (board, request) in [("16g", HeapRequest(npuMiB: 3950, vpuMiB: 2048, vppMiB: 3072)),
                                 ("12g", HeapRequest(npuMiB: 3519, vpuMiB: 2048, vppMiB: 3072))] {
            let tree = try table.boardTree(board)
            let plan = try MemoryPlanner.plan(request, for: tree)
            // The factory dtbs' vpu heap ends at the top of bank 0x3 and vpu_mem sits at 0x3_78000000; memory_edit.sh
            // leaves the top 1 MiB free and moves vpu_mem to 0x3_20000000 (ramoops is at 0x3_14000000).
            #expect(plan.changes == [.setReg(path: "/reserved-memory/ion_vpu_mem",
                                             old: [AddressRange(start: 0x3_8000_0000, size: 2048 * Self.mib)],
                                             new: [AddressRange(start: 0x3_7ff0_0000, size: 2048 * Self.mib)]),
                                     .setReg(path: "/reserved-memory/vpu_mem",
                                             old: [AddressRange(start: 0x3_7800_0000, size: 128 * Self.mib)],
                                             new: [AddressRange(start: 0x3_2000_0000, size: 128 * Self.mib)])])
            var moved = tree
            try MemoryPlanner.apply(plan, to: &moved)
            let again = try MemoryPlanner.plan(request, for: moved)
            #expect(again.isNoChange)
            #expect(again.changes.isEmpty)
            #expect(again.before == again.after)
            #expect(HeapRequest(keeping: again.after) == request)
        }
    }

    @Test func planSummariesAndCoding() throws {
        let tree = try MemoryEditOracle.table().boardTree("16g")
        let plan = try MemoryPlanner.plan(HeapRequest(npuMiB: 7168, vpuMiB: 0, vppMiB: 3072), for: tree)
        let summaries = plan.changes.map(\.summary)
        #expect(summaries.contains("/reserved-memory/ion_npu_mem reg 0x1_24100000+3950 MiB → 0x1_24100000+7168 MiB"))
        #expect(summaries.contains("remove /bitmain-ion/heap_carveout@2"))
        #expect(summaries.contains("/reserved-memory/ion_vpp_mem reg 0x4_40000000+3072 MiB → 0x4_3ff00000+3072 MiB"))
        #expect(summaries.contains { $0.hasPrefix("add /reserved-memory/ion_vpu_mem: \"vpu-region\", phandle 0x4, disabled") })
        let decoded = try JSONDecoder().decode(MemoryPlan.self, from: JSONEncoder().encode(plan))
        #expect(decoded == plan)
        #expect(plan.limits == LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096))
    }
}

/// Every `memory-region` in the tree names a phandle some node has.
func expectNoDanglingMemoryRegion(_ tree: FlatDeviceTree, sourceLocation: SourceLocation = #_sourceLocation) throws {
    for path in try tree.nodePaths() {
        for phandle in try tree.u32Array("memory-region", at: path) ?? [] {
            #expect(try tree.path(forPhandle: phandle) != nil, "\(path) names phandle \(phandle)", sourceLocation: sourceLocation)
        }
    }
}
