/// Where Sophgo's memory_edit.sh (sophgo/sophon-tools, version 2.12, its BM1684/BM1684X path) puts the ion heaps
/// and the VPU firmware region of one board, and which sizes it refuses. tpudeploy follows these rules so that
/// boards run the layouts the vendor supports; the rules are restated here from reading the script, and
/// `Tests/Fixtures/memory-edit-oracle.json` holds what the script really wrote on the fixture dtbs.
///
/// The script sees the board through the `/memory` `reg` only by position: on a 16-cell (four-bank) dtb its
/// "ddr1" is banks 0x1 and 0x2 together, its "ddr3"/"ddr4" are banks 0x3 and 0x4 (DDR2 and DDR3 in
/// `DDRBank.name`); on a 12-cell dtb bank 0x2 is absent.
struct HeapPlacementRules: Sendable, Equatable {
    static let vpuFirmwareSize: UInt64 = 128 << 20
    /// Bank 0x3 keeps at least this much for the kernel below the VPU heap.
    static let kernelMinimum: UInt64 = 1 << 30
    /// Factory layouts put ramoops here; the script then moves the VPU firmware region low in bank 0x3 ("to512M").
    static let factoryRamoopsStart: UInt64 = 0x3_1400_0000
    static let lowVPUFirmwareStart: UInt64 = 0x3_2000_0000
    /// The bank cell memory_edit.sh gives each heap.
    static func bankBase(_ kind: IONHeapKind) -> UInt64 {
        switch kind {
        case .npu: return 0x1 << 32
        case .vpu: return 0x3 << 32
        case .vpp: return 0x4 << 32
        }
    }

    /// Bank 0x1 (plus bank 0x2 on four-bank boards): where the NPU heap lives.
    var npuSpace: UInt64
    var vpuBankSize: UInt64
    var vppBankSize: UInt64
    /// armfw_mem + arm_mem + smmu_mem: the NPU heap starts this far into bank 0x1.
    var npuOffset: UInt64
    /// ramoops sits at 0x3_14000000 (factory layouts): the VPU firmware goes to 0x3_20000000 and the VPU heap
    /// need not leave room for it at the top of bank 0x3.
    var vpuFirmwareLow: Bool

    private static let mib = MemoryPlanner.mebibyte

    init(layout: BoardMemoryLayout) throws {
        let ids = layout.banks.map(\.id)
        guard ids == [1, 2, 3, 4] || ids == [1, 3, 4] else {
            throw MemoryPlanError.unsupportedLayout(
                reason: "its /memory has banks \(ids.map { HexText.number($0) }.joined(separator: ", ")); "
                    + "memory_edit.sh supports 0x1-0x4 (16 GB boards) or 0x1, 0x3, 0x4 (12 GB boards)")
        }
        for bank in layout.banks where bank.start != bank.id << 32 || bank.size == 0 {
            throw MemoryPlanError.unsupportedLayout(
                reason: "its \(bank.name) starts at \(AddressText.address(bank.start)) with \(AddressText.size(bank.size)); "
                    + "memory_edit.sh assumes each bank starts at its bank address and is not empty")
        }
        let sizes = layout.banks.map(\.size)
        npuSpace = ids.count == 4 ? sizes[0] + sizes[1] : sizes[0]
        vpuBankSize = sizes[sizes.count - 2]
        vppBankSize = sizes[sizes.count - 1]
        func region(_ name: String) -> ReservedRegion? { layout.reservedRegions.first { $0.name == name && $0.start != nil } }
        npuOffset = ["armfw_mem", "arm_mem", "smmu_mem"].reduce(0) { $0 + (region($1)?.size ?? 0) }
        guard npuOffset < npuSpace else {
            throw MemoryPlanError.unsupportedLayout(reason: "armfw_mem, arm_mem and smmu_mem fill all of bank 0x1")
        }
        vpuFirmwareLow = region("ramoops_mem")?.start == Self.factoryRamoopsStart
    }

    /// What `memory_edit.sh -p` prints as the maxima.
    var printedLimits: LayoutLimits {
        LayoutLimits(
            maxNPUMiB: (npuSpace - npuOffset) / Self.mib,
            maxVPUMiB: vpuBankSize.subtractingSaturating(vpuReserve(firmwareLow: vpuFirmwareLow)) / Self.mib,
            maxVPPMiB: vppBankSize / Self.mib)
    }

    /// Bank 0x3 memory the VPU heap must leave: 1 GiB for the kernel, the VPU firmware unless it sits low, the top 1 MiB.
    private func vpuReserve(firmwareLow: Bool) -> UInt64 {
        Self.kernelMinimum + (firmwareLow ? 0 : Self.vpuFirmwareSize) + Self.mib
    }

    /// With the vpu heap removed and a vpp heap kept, the vpp heap (which the VPU then uses) leaves the top 1 MiB.
    private func vppReserve(for request: HeapRequest) -> UInt64 {
        request.removes(.vpu) && !request.removes(.vpp) ? Self.mib : 0
    }

    /// The largest size of `kind` this request allows, in MiB.
    func maxMiB(_ kind: IONHeapKind, for request: HeapRequest) -> UInt64 {
        switch kind {
        case .npu: return (npuSpace - npuOffset) / Self.mib
        case .vpu: return vpuBankSize.subtractingSaturating(vpuReserve(firmwareLow: vpuFirmwareLow)) / Self.mib
        case .vpp: return vppBankSize.subtractingSaturating(vppReserve(for: request)) / Self.mib
        }
    }

    /// Refuses what the script refuses, in its order (npu, vpu, vpp). Like the script, a 1 MiB vpu heap is not
    /// checked against the vpu maximum.
    func check(_ request: HeapRequest) throws {
        for kind in [IONHeapKind.npu, .vpu, .vpp] {
            let requested = request.mebibytes(kind)
            if kind == .vpu && requested <= 1 { continue }
            let max = maxMiB(kind, for: request)
            if requested > max { throw MemoryPlanError.tooLarge(heap: kind, requestedMiB: requested, maxMiB: max) }
        }
    }

    /// The heaps' and the VPU firmware region's ranges for a request that passed `check`.
    func placement(for request: HeapRequest) throws -> HeapPlacement {
        var heaps: [IONHeapKind: AddressRange] = [:]
        func bytes(_ kind: IONHeapKind) -> UInt64 { request.mebibytes(kind) * Self.mib }
        if !request.removes(.npu) {
            heaps[.npu] = AddressRange(start: Self.bankBase(.npu) + npuOffset, size: bytes(.npu))
        }
        if !request.removes(.vpu) {
            // The top 1 MiB of bank 0x3 stays free.
            let offset = try Self.offset(vpuBankSize, minus: bytes(.vpu) + Self.mib, region: "ion_vpu_mem", in: .vpu)
            heaps[.vpu] = AddressRange(start: Self.bankBase(.vpu) + offset, size: bytes(.vpu))
        }
        if !request.removes(.vpp) {
            let offset = try Self.offset(vppBankSize, minus: bytes(.vpp) + vppReserve(for: request), region: "ion_vpp_mem", in: .vpp)
            heaps[.vpp] = AddressRange(start: Self.bankBase(.vpp) + offset, size: bytes(.vpp))
        }
        return HeapPlacement(heaps: heaps, vpuFirmware: try vpuFirmware(for: request))
    }

    /// `vpu_mem`: low in bank 0x3 on factory layouts, else right below the VPU heap; with the VPU heap removed, right
    /// below the VPP heap (which the VPU then uses) if at least 128 MiB lies below it, else at the top of bank 0x3.
    /// (Exactly 128 MiB below it makes the script's address negative: refused.)
    private func vpuFirmware(for request: HeapRequest) throws -> AddressRange {
        let size = Self.vpuFirmwareSize
        let topOfBank3 = Self.bankBase(.vpu) + vpuBankSize - size - Self.mib
        guard request.removes(.vpu) else {
            if vpuFirmwareLow { return AddressRange(start: Self.lowVPUFirmwareStart, size: size) }
            let below = request.vpuMiB * Self.mib + size + Self.mib
            let offset = try Self.offset(vpuBankSize, minus: below, region: "vpu_mem", in: .vpu)
            return AddressRange(start: Self.bankBase(.vpu) + offset, size: size)
        }
        guard !request.removes(.vpp) else { return AddressRange(start: topOfBank3, size: size) }
        let belowVPP = vppBankSize - request.vppMiB * Self.mib
        if belowVPP < size { return AddressRange(start: topOfBank3, size: size) }
        guard belowVPP >= size + Self.mib else { throw MemoryPlanError.vpuFirmwareDoesNotFit(vppMiB: request.vppMiB) }
        return AddressRange(start: Self.bankBase(.vpp) + belowVPP - size - Self.mib, size: size)
    }

    private static func offset(_ bank: UInt64, minus amount: UInt64, region: String, in kind: IONHeapKind) throws -> UInt64 {
        guard amount <= bank else {
            throw MemoryPlanError.outsideBank(region: region, range: AddressRange(start: bankBase(kind), size: amount))
        }
        return bank - amount
    }
}

/// The ranges a request gives the heaps (a removed heap is absent) and the VPU firmware region.
struct HeapPlacement: Sendable, Equatable {
    var heaps: [IONHeapKind: AddressRange]
    var vpuFirmware: AddressRange
}

extension UInt64 {
    func subtractingSaturating(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
