import Foundation
import Testing
@testable import TPUDeployKit

/// The repository's own Profiles directory.
private let profiles = ProfileStore(directory: URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Profiles"))

/// One BM1684X board as sophgo/linux-arm64 v25.03.01 (commit b2b0f44b7) describes it in
/// `arch/arm64/boot/dts/bitmain/`: its dts's `info { file-name }` and the four reserved-memory regions the board dts
/// sets on top of `bm1684x_mm_16g.dtsi` (written out here from those files, independently of the profiles).
struct VendorBoard: Sendable, CustomStringConvertible {
    var profile: String
    var dtbs: [String]
    var npu: AddressRange
    var vpu: AddressRange
    var vpp: AddressRange
    var vpuFirmware: AddressRange

    var description: String { profile }

    /// `bm1684x_mm_16g.dtsi` of v25.03.01: what a board dts that overrides nothing gets.
    static func mm16g(_ profile: String, _ dtbs: [String]) -> VendorBoard {
        VendorBoard(
            profile: profile, dtbs: dtbs, npu: .init(start: 0x1_2410_0000, size: 0xF6E0_0000),
            vpu: .init(start: 0x3_8000_0000, size: 0x7FF0_0000), vpp: .init(start: 0x4_4000_0000, size: 0xC000_0000),
            vpuFirmware: .init(start: 0x3_7800_0000, size: 0x800_0000))
    }

    /// SE7 v1 (`bm1684x_se7_v1.dts`); SM7M v1.2 and v0.0 CUST V1 have the same layout but a VPU heap of 0xb7ff0000.
    static func se7Like(_ profile: String, _ dtbs: [String], vpuSize: UInt64) -> VendorBoard {
        var board = mm16g(profile, dtbs)
        board.npu.size = 0x96E0_0000
        board.vpu = .init(start: 0x3_4800_0000, size: vpuSize)
        board.vpuFirmware.start = 0x3_4000_0000
        return board
    }

    static let all: [VendorBoard] = {
        var airbox = mm16g("airbox", ["bm1684x_sm7_airbox.dtb"])
        airbox.npu.size = 0x1_DBF0_0000
        airbox.vpu = .init(start: 0x3_4800_0000, size: 0xB7FF_0000)
        airbox.vpp = .init(start: 0x4_1200_0000, size: 0xEE00_0000)
        airbox.vpuFirmware.start = 0x3_4000_0000
        var sm7m = mm16g("sm7m", ["bm1684x_sm7m_v0.0.dtb"])
        sm7m.npu = .init(start: 0x1_5100_0000, size: 0x8000_0000)
        sm7m.vpu = .init(start: 0x3_4800_0000, size: 0x7FF0_0000)
        sm7m.vpp = .init(start: 0x4_0000_0000, size: 0x1_0000_0000)
        sm7m.vpuFirmware.start = 0x3_4000_0000
        // The AirBox's first kernels (v23.10.01, v23.09-LTS-SP1): another dtb name, and a VPP heap off the page grid.
        var airboxV23 = airbox
        airboxV23.profile = "airbox_v23"
        airboxV23.dtbs = ["bm1684x_airbox.dtb"]
        airboxV23.vpp = .init(start: 0x4_1194_D800, size: 0xEE6B_2800)
        var m2 = mm16g("m2_cust02", ["bm1684x_m2_cust02_v0.0.dtb"])
        m2.npu.size = 0x1_DBF0_0000
        return [
            mm16g("1684x_evb", ["bm1684x_evb_v0.0.dtb"]),
            se7Like("se7", ["bm1684x_se7_v1.dtb"], vpuSize: 0xB7F0_0000),
            mm16g("se7_v2", ["bm1684x_se7_v2.0.dtb"]),
            airbox, airboxV23, sm7m,
            mm16g("sm7m_v1", ["bm1684x_sm7m_v1.0.dtb"]),
            se7Like("sm7m_v1_2", ["bm1684x_sm7m_v1.2.dts"], vpuSize: 0xB7FF_0000),
            se7Like("sm7m_cust_v1", ["bm1684x_sm7m_v0.0_cust_v1.dtb"], vpuSize: 0xB7FF_0000),
            mm16g("sm7_cust", ["bm1684x_sm7_cust_v1.dtb", "bm1684x_sm7_cust_v2.dtb"]),
            m2,
        ]
    }()

    var layout: ExactHeapLayout {
        ExactHeapLayout(heaps: [.npu: npu, .vpu: vpu, .vpp: vpp], vpuFirmware: vpuFirmware)
    }
}

/// The vendor fixture image (`fit-vendor`): the dtb of `name` and its tree.
private func vendorTree(_ name: String) throws -> FlatDeviceTree {
    let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fitVendor))
    return try fit.deviceTreeImage(forDTB: name).tree
}

/// Every property of every node under `root`, by path: what "the same nodes, byte for byte" compares (node order
/// inside `/reserved-memory` aside: a heap given back is added at the end).
private func properties(under root: String, in tree: FlatDeviceTree) throws -> [String: [String: [UInt8]]] {
    var result: [String: [String: [UInt8]]] = [:]
    for path in try tree.nodePaths(under: root) {
        var node: [String: [UInt8]] = [:]
        for name in try tree.propertyNames(at: path) { node[name] = try tree.property(name, at: path) }
        result[path] = node
    }
    return result
}

@Suite struct VendorBoardProfileTests {
    @Test(arguments: VendorBoard.all)
    func theProfileHoldsTheVendorsDTBNamesAndExactFactoryLayout(_ vendor: VendorBoard) throws {
        let profile = try profiles.board(named: vendor.profile)
        #expect(profile.dtbFileNames == vendor.dtbs)
        #expect(profile.factoryLayout == vendor.layout)
        #expect(profile.factoryLayoutSource?.contains("sophgo/linux-arm64") == true)
        #expect(profile.presetNames.contains("factory"))
        for dtb in vendor.dtbs { #expect(try profiles.board(booting: dtb)?.name == vendor.profile) }
    }

    @Test func everyProfileWithAFactoryLayoutIsAVendorBoardAndNoInventedNameIsLeft() throws {
        let withLayout = try profiles.boards().filter { $0.factoryLayout != nil }.map(\.name).sorted()
        #expect(withLayout == VendorBoard.all.map(\.profile).sorted())
        // No dtb name (in the form names are compared in) belongs to two profiles.
        let keys = try profiles.boards().flatMap { $0.dtbFileNames.map(DTBName.key) }
        #expect(Set(keys).count == keys.count)
        #expect(try profiles.board(booting: "bm1684x_se7_v1_12g.dtb") == nil)
        #expect(try profiles.board(booting: "bm1684x_airbox_v1.dtb") == nil)
        // SE7 v3.0: its name is known (sophon-tools), its dts is not public: no factory layout.
        let v3 = try profiles.board(named: "se7_v3")
        #expect(v3.factoryLayout == nil && v3.boots(dtb: "bm1684x_se7_v3.0.dtb"))
    }

    @Test(arguments: [
        ("bm1684x_sm7m_v1.2.dts", "sm7m_v1_2"), ("bm1684x_sm7m_v1.2.dtb", "sm7m_v1_2"), ("bm1684x_sm7m_v1.2", "sm7m_v1_2"),
        ("bm1684x_evb_v0.0.dts", "1684x_evb"), ("bm1684x_se7_v2_0.dtb", "se7_v2"), ("bm1684x_se7_v2.0.dts", "se7_v2"),
        ("bm1684x_sm7_airbox.dts", "airbox"), ("bm1684x_sm7m_v0.0_cust_v1.dts", "sm7m_cust_v1"),
    ])
    func aDTBNameIsMatchedWithItsDtsEndingAndUBootsSpelling(_ dtb: String, _ board: String) throws {
        #expect(try profiles.board(booting: dtb)?.name == board)
    }

    @Test func theSimulatorsVendorImageHasEachBoardsFactoryLayout() throws {
        let fit = try FITImage(bytes: BootImageFixture.bytes(BootImageFixture.fitVendor))
        var seen: Set<String> = []
        for image in fit.images where image.isDeviceTree {
            let layout = try BoardMemoryLayout(deviceTree: FlatDeviceTree(bytes: fit.data(of: image)))
            let name = try #require(layout.dtbFileName)
            let profile = try #require(try profiles.board(booting: name), "no profile boots \(name)")
            let factory = try #require(profile.factoryLayout)
            #expect(factory.matches(layout), "\(name) in the simulator's image differs from \(profile.sourceFile)")
            seen.insert(profile.name)
        }
        #expect(seen == Set(VendorBoard.all.map(\.profile)))
        // The file name as the kernel writes it: sm7m v1.2 keeps the 2023 .dts ending.
        #expect(try vendorTree("bm1684x_sm7m_v1.2").string("file-name", at: "/info") == "bm1684x_sm7m_v1.2.dts")
        #expect(try fit.deviceTreeImage(forDTB: "bm1684x_se7_v2_0.dtb").tree.string("file-name", at: "/info") == "bm1684x_se7_v2.0.dtb")
    }
}

@Suite struct FactoryLayoutRestoreTests {
    /// Changes a board dtb the way `fix-memory` would, then plans `--preset factory`: the reserved-memory and
    /// bitmain-ion nodes must come back exactly, including the AirBox's 0xb7ff0000-byte VPU heap and `vpu_mem` at
    /// 0x3_40000000, which memory_edit.sh's placement rules would never write.
    @Test(arguments: VendorBoard.all, [
        HeapRequest(npuMiB: 7168, vpuMiB: 1024, vppMiB: 2048), HeapRequest(npuMiB: 7000, vpuMiB: 0, vppMiB: 2048),
        HeapRequest(npuMiB: 2048, vpuMiB: 0, vppMiB: 0),
    ])
    func factoryIsRestoredExactlyAfterAChange(_ vendor: VendorBoard, _ change: HeapRequest) throws {
        let factory = try vendorTree(vendor.dtbs[0])
        var changed = factory
        try MemoryPlanner.apply(MemoryPlanner.plan(change, for: factory), to: &changed)
        #expect(try !vendor.layout.matches(BoardMemoryLayout(deviceTree: changed)))

        let plan = try MemoryPlanner.plan(exactly: vendor.layout, for: changed)
        var restored = changed
        try MemoryPlanner.apply(plan, to: &restored)
        #expect(vendor.layout.matches(plan.after))
        for root in ["/reserved-memory", "/bitmain-ion"] {
            let (want, got) = (try properties(under: root, in: factory), try properties(under: root, in: restored))
            #expect(got == want, "\(root) of \(vendor.dtbs[0]) after \(change)")
        }
        #expect(try restored.u32Array("memory-region", at: "/bmtpu@1f000000") == factory.u32Array("memory-region", at: "/bmtpu@1f000000"))
        #expect(try restored.u32Array("memory-region", at: "/vdec@50050000") == factory.u32Array("memory-region", at: "/vdec@50050000"))
        // Once restored, asking again changes nothing.
        #expect(try MemoryPlanner.plan(exactly: vendor.layout, for: restored).isNoChange)
    }

    @Test func presetFactoryOnAFITImageWritesTheExactLayoutAndIgnoresTheLinuxMinimum() throws {
        let airbox = try profiles.board(named: "airbox")
        let image = try BootImageFixture.bytes(BootImageFixture.fitVendor)
        let llm = try BootImageEdit(
            image: image, dtb: "bm1684x_sm7_airbox", sizing: LayoutChoice.preset("llm").sizing(for: airbox),
            minimumLinuxMiB: airbox.minimumLinuxMiB)
        let changed = try #require(llm.editedImage)
        let sizing = try LayoutChoice.preset("factory").sizing(for: airbox)
        #expect(sizing == .exact(name: "factory", layout: try #require(airbox.factoryLayout)))
        let restore = try BootImageEdit(image: changed, dtb: "bm1684x_sm7_airbox.dts", sizing: sizing, minimumLinuxMiB: airbox.minimumLinuxMiB)
        // The AirBox's own layout leaves Linux less than the profile's minimum; the vendor ships it, so it is allowed.
        #expect(restore.plan.after.linuxBytes < airbox.minimumLinuxMiB << 20)
        let written = try FITImage(bytes: #require(restore.editedImage))
        let tree = try written.deviceTreeImage(forDTB: "bm1684x_sm7_airbox").tree
        #expect(try airbox.factoryLayout?.matches(BoardMemoryLayout(deviceTree: tree)) == true)
        #expect(try tree.reg(at: "/reserved-memory/ion_vpu_mem") == [AddressRange(start: 0x3_4800_0000, size: 0xB7FF_0000)])
    }

    @Test func aBoardWithoutAFactoryLayoutRefusesThePresetByName() throws {
        let v3 = try profiles.board(named: "se7_v3")
        #expect {
            try LayoutChoice.preset("factory").sizing(for: v3)
        } throws: { error in
            "\(error)".contains("no preset 'factory'") && "\(error)".contains("llm")
        }
    }
}

@Suite struct FactoryLayoutProfileValidationTests {
    private func load(_ factory: String, ram: String = "16g", presets: String = "  llm: {npu: 1024, vpu: 0, vpp: 0}") throws -> BoardProfile {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("b.yaml").path
        try """
            name: b
            description: d
            chip: BM1684X
            dtb_file_names: [b.dtb]
            ram: [\(ram)]
            min_linux_mib: 2048
            factory:
            \(factory)
            presets:
            \(presets)
            for_model: {npu_headroom: 256, vpu: 1024, vpp: 2048}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try BoardProfile(mapping: YAMLMapping(contentsOf: path))
    }

    private let good = """
          source: test
          ion_npu_mem: {start: "0x1_24100000", size: "0x1_dbf00000"}
          vpu_mem: {start: "0x3_40000000", size: "0x8000000"}
        """

    @Test func aGoodLayoutLoads() throws {
        let profile = try load(good)
        #expect(profile.factoryLayout?.heaps == [.npu: AddressRange(start: 0x1_2410_0000, size: 0x1_DBF0_0000)])
        #expect(profile.presetNames == ["factory", "llm"])
    }

    @Test(arguments: [
        ("  source: t\n  ion_npu_mem: {start: 0x124100000, size: \"0x1000\"}\n  vpu_mem: {start: \"0x340000000\", size: \"0x8000000\"}",
         "factory.ion_npu_mem.start: '4899995648' is not a quoted hex number"),
        ("  source: t\n  ion_npu_mem: {start: \"0x124100000\", size: \"0x1000\"}", "factory.vpu_mem: required"),
        ("  source: t\n  vpu_mem: {start: \"0x340000100\", size: \"0x8000000\"}", "factory.vpu_mem.start: 0x3_40000100+128 MiB is not on 2 KiB boundaries"),
        ("  source: t\n  ion_vpp_mem: {start: \"0x4_40000000\", size: \"0xc0000000\"}\n  vpu_mem: {start: \"0x4_50000000\", size: \"0x8000000\"}",
         "factory.vpu_mem: 0x4_50000000+128 MiB overlaps ion_vpp_mem"),
        ("  source: t\n  ion_npu_mem: {start: \"0x1_24100000\", size: \"0x1_00000000\"}\n  vpu_mem: {start: \"0x3_40000000\", size: \"0x8000000\"}",
         "factory.ion_npu_mem: 0x1_24100000+4096 MiB does not lie inside the DDR of a 12g board"),
    ])
    func aBadLayoutNamesTheFileAndKey(_ factory: String, _ message: String) throws {
        #expect {
            try load(factory, ram: "12g, 16g")
        } throws: { error in
            "\(error)".contains("b.yaml: " + message)
        }
    }

    /// The v23 AirBox's VPP heap (sophgo/linux-arm64 v23.10.01 bm1684x_sm7_airbox.dts) starts 2 KiB off a page: the
    /// vendor boots it, so it loads.
    @Test func theV23AirBoxsVPPHeapOffThePageGridLoads() throws {
        let profile = try load(good + "\n  ion_vpp_mem: {start: \"0x4_1194d800\", size: \"0xee6b2800\"}")
        #expect(profile.factoryLayout?.heaps[.vpp] == AddressRange(start: 0x4_1194_D800, size: 0xEE6B_2800))
    }

    @Test func aFactoryPresetBesideTheExactLayoutIsRefused() throws {
        #expect {
            try load(good, presets: "  factory: {npu: 1024, vpu: 0, vpp: 0}")
        } throws: { error in
            "\(error)".contains("presets.factory: the factory layout is given exactly")
        }
    }
}
