/// How a board dtb divides the DDR: banks, reserved regions, the NPU/VPU/VPP ion heaps, and what is left to
/// Linux. Named `BoardMemoryLayout` because `MemoryLayout` is the Swift standard library's type.
public struct BoardMemoryLayout: Codable, Sendable, Equatable {
    /// `/info file-name`, e.g. `bm1684x_evb_v0.0.dtb`; nil when the dtb has no `/info`.
    public var dtbFileName: String?
    /// The `/memory` banks, in `reg` order: four on 16 GB boards, three on 12 GB boards.
    public var banks: [DDRBank]
    /// The enabled `/reserved-memory` children in dtb order; a region whose `reg` has several entries appears once
    /// per entry. Children with `status = "disabled"` are left out, as the kernel ignores them (tpudeploy leaves such
    /// a node in place of a removed heap so that phandle references to it stay valid).
    public var reservedRegions: [ReservedRegion]
    /// The ion heaps present, in npu, vpu, vpp order; a removed heap is absent.
    public var heaps: [IONHeap]

    public init(dtbFileName: String?, banks: [DDRBank], reservedRegions: [ReservedRegion], heaps: [IONHeap]) {
        self.dtbFileName = dtbFileName
        self.banks = banks
        self.reservedRegions = reservedRegions
        self.heaps = heaps
    }

    /// The sum of the bank sizes.
    public var totalDRAMBytes: UInt64 { banks.reduce(0) { $0 &+ $1.size } }

    /// The DRAM the dtb leaves to Linux: `totalDRAMBytes` minus the size of every reserved region that has a
    /// fixed address (`reg`) and is not `reusable`. Size-only regions (`linux,cma`) and reusable ones stay Linux
    /// memory. The kernel's own overhead (its image, page tables, `mem_map`) is not subtracted, so `MemTotal`
    /// on the board is somewhat lower.
    public var linuxBytes: UInt64 {
        let reserved = reservedRegions.filter { $0.start != nil && !$0.reusable }.reduce(0) { $0 &+ $1.size }
        return totalDRAMBytes > reserved ? totalDRAMBytes - reserved : 0
    }

    /// The heap of this kind, or nil when the dtb has none.
    public func heap(_ kind: IONHeapKind) -> IONHeap? { heaps.first { $0.kind == kind } }

    /// The heap named `npu`, `vpu` or `vpp`, or nil.
    public func heap(named name: String) -> IONHeap? { IONHeapKind(rawValue: name).flatMap(heap) }

    /// Reads the layout from a board dtb.
    public init(deviceTree tree: FlatDeviceTree) throws {
        do {
            try self.init(reading: tree)
        } catch let error as DeviceTreeError {
            throw MemoryLayoutError.deviceTree(error)
        }
    }

    private init(reading tree: FlatDeviceTree) throws {
        let rootNames = try tree.subnodeNames(of: "/")
        dtbFileName = rootNames.contains("info") ? try tree.string("file-name", at: "/info") : nil

        let memoryNodes = rootNames.filter { $0 == "memory" || $0.hasPrefix("memory@") }
        guard !memoryNodes.isEmpty else { throw MemoryLayoutError.noMemoryNode }
        let rootWidths = try Self.cellWidths(of: "/", in: tree)
        banks = try memoryNodes.flatMap { name -> [DDRBank] in
            let path = "/" + name
            guard let entries = try Self.cells("reg", at: path, widths: rootWidths, in: tree) else {
                throw MemoryLayoutError.missingReg(path: path)
            }
            return entries.map { DDRBank(start: $0[0], size: $0[1]) }
        }

        var regions: [ReservedRegion] = []
        var heapsByKind: [IONHeapKind: [(path: String, heap: IONHeap?)]] = [:]
        if rootNames.contains("reserved-memory") {
            let widths = try Self.cellWidths(of: "/reserved-memory", in: tree)
            for name in try tree.subnodeNames(of: "/reserved-memory") {
                let path = "/reserved-memory/" + name
                guard try tree.isEnabled(at: path) else { continue }
                let compatible = try tree.stringList("compatible", at: path) ?? []
                var common = ReservedRegion(
                    name: name, start: nil, size: 0, noMap: try tree.property("no-map", at: path) != nil,
                    reusable: try tree.property("reusable", at: path) != nil, compatible: compatible,
                    phandle: try tree.phandle(of: path))
                let ranges: [ReservedRegion]
                if let reg = try Self.cells("reg", at: path, widths: widths, in: tree) {
                    ranges = reg.map { entry in
                        var region = common
                        region.start = entry[0]
                        region.size = entry[1]
                        return region
                    }
                } else if let size = try Self.cells("size", at: path, widths: [widths[1]], in: tree), size.count == 1 {
                    common.size = size[0][0]
                    ranges = [common]
                } else {
                    throw MemoryLayoutError.missingReg(path: path)
                }
                regions += ranges
                for kind in IONHeapKind.allCases where compatible.contains(kind.compatible) {
                    let heap = ranges.first.flatMap { region in
                        region.start.map { IONHeap(kind: kind, nodeName: name, start: $0, size: region.size) }
                    }
                    heapsByKind[kind, default: []].append((path, heap))
                }
            }
        }
        reservedRegions = regions
        heaps = try IONHeapKind.allCases.compactMap { kind -> IONHeap? in
            guard let found = heapsByKind[kind] else { return nil }
            guard found.count == 1 else { throw MemoryLayoutError.duplicateHeap(kind: kind, paths: found.map(\.path)) }
            guard let heap = found[0].heap else { throw MemoryLayoutError.heapWithoutAddress(kind: kind, path: found[0].path) }
            return heap
        }
    }

    private static func cellWidths(of path: String, in tree: FlatDeviceTree) throws -> [Int] {
        let widths = [try tree.addressCells(of: path), try tree.sizeCells(of: path)]
        guard widths.allSatisfy({ $0 <= 2 }), widths[0] > 0 else {
            throw MemoryLayoutError.malformedCells(
                path: path, property: "#address-cells/#size-cells",
                reason: "\(widths[0])/\(widths[1]) cells are not supported (at most 2 each, a non-zero address)")
        }
        return widths
    }

    /// `FlatDeviceTree.cells`, with shape errors reported as `MemoryLayoutError.malformedCells`.
    private static func cells(_ property: String, at path: String, widths: [Int], in tree: FlatDeviceTree) throws
        -> [[UInt64]]?
    {
        do {
            return try tree.cells(property, at: path, widths: widths)
        } catch DeviceTreeError.malformedProperty(let path, let property, let reason) {
            throw MemoryLayoutError.malformedCells(path: path, property: property, reason: reason)
        }
    }
}
