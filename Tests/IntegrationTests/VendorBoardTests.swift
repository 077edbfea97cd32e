import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))
private let mebibyte: UInt64 = 1 << 20

private func fixer() -> BoardMemoryFixer {
    var fixer = BoardMemoryFixer(profiles: profiles, passwordProvider: { _ in nil }, events: nil)
    fixer.rebootTimeout = 300   // a limit for a hang: on two loaded cores a simulated reboot can take minutes
    return fixer
}

/// Every property file of the board's live `/reserved-memory` and `/bitmain-ion` nodes with its bytes in hex, sorted:
/// what the running kernel was given, read on the board with its own `find` and `od`.
private func liveReservedMemory(_ board: SimulatedBoard) throws -> String {
    try SimulatedBoardHarness.openSSH(board, """
        cd /sys/firmware/devicetree/base && find reserved-memory bitmain-ion -type f | LC_ALL=C sort |
        while read -r f; do echo "$f $(od -An -tx1 -v "$f" | tr -d ' \\n')"; done
        """)
}

/// Runs the built `tpudeploy` (beside the test bundle) in `directory` with the repository's profiles and no terminal.
private func tpudeploy(_ arguments: [String], in directory: URL) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var environment = ProcessInfo.processInfo.environment
    environment["TPUDEPLOY_PROFILES"] = repositoryRoot.appendingPathComponent("Profiles").path
    process.environment = environment
    let (out, err) = (Pipe(), Pipe())
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

private func fileName(_ board: SimulatedBoard) throws -> String {
    try SimulatedBoardHarness.openSSH(board, "tr -d '\\000' < /sys/firmware/devicetree/base/info/file-name")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A vendor board the simulator offers: the dtb it boots, the name its kernel reports, the profile inspect must
/// find, and its factory heaps (sophgo/linux-arm64 v25.03.01).
struct SimulatedVendorBoard: Sendable, CustomStringConvertible {
    var dtb: String
    var fileName: String
    var profile: String
    var heaps: [String: UInt64]
    var description: String { "\(profile) (\(dtb))" }

    static let cases = [
        SimulatedVendorBoard(dtb: "bm1684x_se7_v1", fileName: "bm1684x_se7_v1.dtb", profile: "se7",
                             heaps: ["npu": 0x96E0_0000, "vpu": 0xB7F0_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7m_v1.2", fileName: "bm1684x_sm7m_v1.2.dts", profile: "sm7m_v1_2",
                             heaps: ["npu": 0x96E0_0000, "vpu": 0xB7FF_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_se7_v2.0", fileName: "bm1684x_se7_v2.0.dtb", profile: "se7_v2",
                             heaps: ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
        // The other dtbs of v25.03.01 a profile names: bm1684x_mm_16g.dtsi's layout, or the board dts's own.
        SimulatedVendorBoard(dtb: "bm1684x_evb_v0.0", fileName: "bm1684x_evb_v0.0.dtb", profile: "1684x_evb",
                             heaps: ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7m_v0.0", fileName: "bm1684x_sm7m_v0.0.dtb", profile: "sm7m",
                             heaps: ["npu": 0x8000_0000, "vpu": 0x7FF0_0000, "vpp": 0x1_0000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7m_v1.0", fileName: "bm1684x_sm7m_v1.0.dtb", profile: "sm7m_v1",
                             heaps: ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7m_v0.0_cust_v1", fileName: "bm1684x_sm7m_v0.0_cust_v1.dtb", profile: "sm7m_cust_v1",
                             heaps: ["npu": 0x96E0_0000, "vpu": 0xB7FF_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7_cust_v1", fileName: "bm1684x_sm7_cust_v1.dtb", profile: "sm7_cust",
                             heaps: ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
        SimulatedVendorBoard(dtb: "bm1684x_sm7_cust_v2", fileName: "bm1684x_sm7_cust_v2.dtb", profile: "sm7_cust",
                             heaps: ["npu": 0xF6E0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
        // The AirBox of v23.10.01 / v23.09-LTS-SP1 kernels: bm1684x_airbox.dtb, its VPP heap 2 KiB off a page.
        SimulatedVendorBoard(dtb: "bm1684x_airbox", fileName: "bm1684x_airbox.dtb", profile: "airbox_v23",
                             heaps: ["npu": 0x1_DBF0_0000, "vpu": 0xB7FF_0000, "vpp": 0xEE6B_2800]),
        SimulatedVendorBoard(dtb: "bm1684x_m2_cust02_v0.0", fileName: "bm1684x_m2_cust02_v0.0.dtb", profile: "m2_cust02",
                             heaps: ["npu": 0x1_DBF0_0000, "vpu": 0x7FF0_0000, "vpp": 0xC000_0000]),
    ]
}

@Suite("vendor boards on the simulator", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct VendorBoardIntegrationTests {
    /// `sim up --board airbox`: the AirBox's own dtb name and layout; a fix-memory, then `--preset factory` gives the
    /// kernel exactly the factory reserved-memory nodes again (the 0xb7ff0000-byte VPU heap, vpu_mem at 0x3_40000000).
    @Test func airboxBootsItsOwnDTBAndPresetFactoryRestoresItsExactLayout() async throws {
        try await SimulatedBoardHarness.withBoards(dtb: "bm1684x_sm7_airbox") { harness, boards in
            let board = boards[0]
            #expect(try fileName(board) == "bm1684x_sm7_airbox.dtb")
            let factoryHeaps: [String: UInt64] = ["npu": 0x1_DBF0_0000, "vpu": 0xB7FF_0000, "vpp": 0xEE00_0000]
            #expect(try harness.simulator.liveHeaps(of: board.name) == factoryHeaps)
            let factoryNodes = try liveReservedMemory(board)
            #expect(factoryNodes.contains("reserved-memory/vpu_mem/reg 000000034000000000000000" + "08000000"))

            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let report = try await BoardInspector(profiles: profiles).inspect(session)
            #expect(report.board == "airbox")
            #expect(report.dtb == "bm1684x_sm7_airbox.dtb")
            let llm = try await fixer().prepare(session, board: nil, choice: .preset("llm"))
            let (changed, afterLLM) = try await fixer().apply(llm, session: session, reboot: true)
            #expect(changed.status == .applied)
            #expect(try harness.simulator.liveHeaps(of: board.name)["npu"] == 7168 * mebibyte)
            #expect(try liveReservedMemory(board) != factoryNodes)

            let factory = try await fixer().prepare(afterLLM, board: "airbox", choice: .preset("factory"))
            let (restored, fresh) = try await fixer().apply(factory, session: afterLLM, reboot: true)
            await fresh.close()
            #expect(restored.status == .applied)
            #expect(restored.liveHeapsAfter == factoryHeaps)
            #expect(try harness.simulator.liveHeaps(of: board.name) == factoryHeaps)
            #expect(try liveReservedMemory(board) == factoryNodes)
        }
    }

    @Test(arguments: SimulatedVendorBoard.cases)
    func aVendorBoardBootsItsDTBNameAndLayoutAndInspectFindsItsProfile(_ vendor: SimulatedVendorBoard) async throws {
        try await SimulatedBoardHarness.withBoards(dtb: vendor.dtb) { harness, boards in
            let board = boards[0]
            #expect(try fileName(board) == vendor.fileName)
            #expect(try harness.simulator.liveHeaps(of: board.name) == vendor.heaps)
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let report = try await BoardInspector(profiles: profiles).inspect(session)
            await session.close()
            #expect(report.board == vendor.profile)
            #expect(report.dtb == vendor.fileName)
        }
    }

    /// Every vendor dtb the simulator offers is one of the boards above (or the AirBox): none goes untried.
    @Test func everyVendorDTBOfTheSimulatorIsTried() {
        #expect(Set(SimulatedVendorBoard.cases.map(\.dtb) + ["bm1684x_sm7_airbox"]) == Set(SimulatorResources.vendorBoardDTBs))
    }

    @Test func aDTBNoVendorBoardHasIsRefusedBeforeAnythingStarts() throws {
        var options = SimulatorOptions()
        options.dtbName = "bm1684x_se7_v1_12g"
        let simulator = Simulator(stateDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("tpd-none-\(UUID().uuidString.prefix(8))"))
        #expect {
            _ = try simulator.up(options)
        } throws: { error in
            "\(error)".contains("no simulated board boots bm1684x_se7_v1_12g.dtb") && "\(error)".contains("bm1684x_sm7_airbox")
        }
    }

    /// The command line: `sim up --board airbox` boots the AirBox's dtb, `inspect` (through the tpudeploy.yaml it
    /// wrote) names the airbox profile, and `fix-memory --preset factory --yes` undoes a change; boards the simulator
    /// cannot offer are refused with the reason.
    @Test func simUpBoardAirboxFromTheCommandLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-vendor-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("sim").path
        defer { _ = try? tpudeploy(["sim", "down", "--state-dir", state], in: directory) }

        let noLayout = try tpudeploy(["sim", "up", "--state-dir", state, "--board", "se7_v3"], in: directory)
        #expect(noLayout.status != 0 && noLayout.stderr.contains("factory layout is not known"))
        let wrongRAM = try tpudeploy(["sim", "up", "--state-dir", state, "--board", "airbox", "--ram", "12g"], in: directory)
        #expect(wrongRAM.status != 0 && wrongRAM.stderr.contains("comes with 16g of DDR"))

        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--board", "airbox", "--boot-delay", "0", "--json"], in: directory)
        #expect(up.status == 0, "\(up.stderr)")
        let boards = try JSONSerialization.jsonObject(with: Data(up.stdout.utf8)) as? [[String: Any]]
        #expect(boards?.first?["dtb_name"] as? String == "bm1684x_sm7_airbox")
        let inspect = try tpudeploy(["inspect", "--json"], in: directory)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let report = try JSONOutput.decoder().decode(BoardReport.self, from: Data(inspect.stdout.utf8))
        #expect(report.board == "airbox")
        #expect(report.dtb == "bm1684x_sm7_airbox.dtb")
        #expect(report.heaps.first { $0.name == "vpu" }?.configuredBytes == 0xB7FF_0000)

        // What a user types: a change, then `fix-memory --preset factory --yes` gives the factory heaps back.
        let llm = try tpudeploy(["fix-memory", "--preset", "llm", "--yes", "--json"], in: directory)
        #expect(llm.status == 0, "\(llm.stderr)")
        let factory = try tpudeploy(["fix-memory", "--preset", "factory", "--yes", "--json"], in: directory)
        #expect(factory.status == 0, "\(factory.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(factory.stdout.utf8)) as? [String: Any]
        #expect(result?["live_heaps_after"] as? [String: Int] == ["npu": 0x1_DBF0_0000, "vpu": 0xB7FF_0000, "vpp": 0xEE00_0000])
        let after = try tpudeploy(["inspect", "--json"], in: directory)
        let restored = try JSONOutput.decoder().decode(BoardReport.self, from: Data(after.stdout.utf8))
        #expect(restored.heaps.first { $0.name == "vpu" }?.configuredStart == 0x3_4800_0000)
        #expect(restored.heaps.first { $0.name == "vpp" }?.configuredStart == 0x4_1200_0000)
    }
}
