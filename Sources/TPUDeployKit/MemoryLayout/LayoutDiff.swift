/// The dtb edits that turn a board dtb's heap nodes into a `HeapPlacement`: only what differs is changed, so a
/// request for the current layout gives no edits.
///
/// A kept heap gets its `ion_*_mem` node (compatible, `reg`, phandle) and its `bitmain-ion` child. A removed heap
/// loses its `bitmain-ion` child; its node is deleted, or, when some `memory-region` still names its phandle (the
/// TPU node names the npu and vpp regions, the video decoder the vpu region), replaced by a disabled node without
/// `reg` that keeps the phandle.
struct LayoutDiff {
    private(set) var changes: [LayoutChange] = []

    init(tree: FlatDeviceTree, placement: HeapPlacement, references: HeapReferences) throws {
        let kept = IONHeapKind.allCases.filter { placement.heaps[$0] != nil }
        if !kept.isEmpty, !tree.containsNode(at: MemoryPlanner.ionPath) {
            changes.append(.addNode(path: MemoryPlanner.ionPath, contents: .init(compatible: MemoryPlanner.ionCompatible)))
        }

        // A video decoder entry left dangling by an earlier memory_edit.sh run (which deleted ion_vpu_mem) is
        // pointed at the vpu region's phandle again.
        var vdecRegions = references.vdecRegions
        if references.vpuPhandleIsNew, let vpu = references.phandles[.vpu] {
            for (index, phandle) in vdecRegions.enumerated() where try tree.path(forPhandle: phandle) == nil {
                vdecRegions[index] = vpu
            }
        }
        if vdecRegions != references.vdecRegions {
            changes.append(.setMemoryRegion(path: references.vdecPath, old: references.vdecRegions, new: vdecRegions))
        }

        for kind in IONHeapKind.allCases {
            guard let phandle = references.phandles[kind] else { continue }
            if let range = placement.heaps[kind] {
                try keep(kind, at: range, phandle: phandle, in: tree)
            } else {
                let stillNamed = try Self.isReferenced(
                    phandle, in: tree, ignoring: [MemoryPlanner.heapPath(kind), MemoryPlanner.carveoutPath(kind)],
                    overriding: [references.vdecPath: vdecRegions])
                try remove(kind, keepingPhandle: stillNamed ? phandle : nil, in: tree)
            }
        }

        let firmware = [placement.vpuFirmware]
        if tree.containsNode(at: MemoryPlanner.vpuFirmwarePath) {
            let old = try tree.reg(at: MemoryPlanner.vpuFirmwarePath)
            if old != firmware { changes.append(.setReg(path: MemoryPlanner.vpuFirmwarePath, old: old, new: firmware)) }
        } else {
            changes.append(.addNode(path: MemoryPlanner.vpuFirmwarePath, contents: .init(reg: firmware, noMap: true)))
        }
    }

    private mutating func keep(_ kind: IONHeapKind, at range: AddressRange, phandle: UInt32, in tree: FlatDeviceTree) throws {
        let path = MemoryPlanner.heapPath(kind)
        let exists = tree.containsNode(at: path)
        if exists, try tree.isEnabled(at: path), try tree.stringList("compatible", at: path) == [kind.compatible],
            try tree.phandle(of: path) == phandle
        {
            let old = try tree.reg(at: path)
            if old != [range] { changes.append(.setReg(path: path, old: old, new: [range])) }
        } else {
            if exists { changes.append(.removeNode(path: path)) }
            changes.append(.addNode(path: path, contents: .init(compatible: kind.compatible, reg: [range], phandle: phandle)))
        }

        let child = MemoryPlanner.carveoutPath(kind)
        let compatible = MemoryPlanner.carveoutCompatible(kind)
        let contents = LayoutChange.NodeContents(compatible: compatible, memoryRegion: [phandle])
        guard tree.containsNode(at: child) else {
            changes.append(.addNode(path: child, contents: contents))
            return
        }
        if try tree.stringList("compatible", at: child) == [compatible], try tree.isEnabled(at: child) {
            let old = try tree.u32Array("memory-region", at: child)
            if old != [phandle] { changes.append(.setMemoryRegion(path: child, old: old, new: [phandle])) }
        } else {
            changes.append(.removeNode(path: child))
            changes.append(.addNode(path: child, contents: contents))
        }
    }

    private mutating func remove(_ kind: IONHeapKind, keepingPhandle phandle: UInt32?, in tree: FlatDeviceTree) throws {
        let child = MemoryPlanner.carveoutPath(kind)
        if tree.containsNode(at: child) { changes.append(.removeNode(path: child)) }

        let path = MemoryPlanner.heapPath(kind)
        let exists = tree.containsNode(at: path)
        guard let phandle else {
            if exists { changes.append(.removeNode(path: path)) }
            return
        }
        let placeholder = LayoutChange.NodeContents(compatible: kind.compatible, phandle: phandle, disabled: true)
        if exists, try !tree.isEnabled(at: path), try tree.phandle(of: path) == phandle, try tree.reg(at: path) == nil {
            return
        }
        if exists { changes.append(.removeNode(path: path)) }
        changes.append(.addNode(path: path, contents: placeholder))
    }

    /// True when a `memory-region` of a node other than `ignoring` names `phandle` (with `overriding` giving the
    /// planned lists of nodes whose lists the plan changes).
    private static func isReferenced(
        _ phandle: UInt32, in tree: FlatDeviceTree, ignoring: Set<String>, overriding: [String: [UInt32]]
    ) throws -> Bool {
        for path in try tree.nodePaths() where !ignoring.contains(path) {
            let regions = try overriding[path] ?? tree.u32Array("memory-region", at: path) ?? []
            if regions.contains(phandle) { return true }
        }
        return false
    }
}
