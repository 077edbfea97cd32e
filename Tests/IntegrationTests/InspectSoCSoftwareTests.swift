import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))

/// `inspect` on boards whose Sophgo software is laid out as on a real SoC board: bm-smi only on a login shell's
/// PATH and only a curses screen, libsophon in dpkg, the driver in /sys/module, heap use in the ion debugfs.
@Suite("inspect: SoC software, versions and device memory", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct InspectSoCSoftwareTests {
    @Test func everyFactComesOverANonLoginCommandWithoutBMSMIAndAn2023ImageIsCalledTooOld() async throws {
        try await withBoard(libsophon: "0.4.9") { _, board in
            // What inspect's own exec channel sees: no bm-smi on a non-login PATH, as on a real board.
            #expect(try SimulatedBoardHarness.openSSH(board, "command -v bm-smi || echo none") == "none\n")
            let report = try await inspect(board)
            #expect(!report.warnings.contains { $0.contains("bm-smi") })
            #expect(report.versions == SoftwareVersions(
                libsophon: "0.4.9", libsophonSource: "dpkg sophon-soc-libsophon", driver: "0.4.9",
                kernelBuild: "#2 SMP Sat Nov 18 10:07:36 HKT 2023", kernelBuildDate: "2023-11-18"))
            #expect(report.llmRuntimeCheck.verdict == .outdated)
            let warning = try #require(report.warnings.first { $0.contains("older than sophgo/LLM-TPU") })
            #expect(warning.contains("libsophon 0.4.9 (needs 0.5.1 or newer)"))
            #expect(warning.contains("driver 0.4.9 (needs 0.5.1 or newer)"))
            #expect(warning.contains("kernel built 2023-11-18 (needs 2024-01-10 or later)"))
            #expect(warning.contains("Upgrade the SoC image") && warning.contains("docs/Quick_Start.md"))
            #expect(report.warnings.count == 1)
            #expect(BoardReportText.render(report).contains("too old for LLM-TPU bmodels"))
        }
    }

    @Test func a2024ImageMeetsWhatLLMTPUNeedsAndBMSMISaysLibVersion() async throws {
        try await withBoard(libsophon: "0.5.1") { _, board in
            let report = try await inspect(board)
            #expect(report.warnings == [])
            #expect(report.llmRuntimeCheck.verdict == .met)
            #expect(report.versions.libsophon == "0.5.1" && report.versions.driver == "0.5.1")
            #expect(report.versions.kernelBuildDate == "2024-07-17")
            let screen = try SimulatedBoardHarness.openSSH(board, "bash -lc 'bm-smi --noloop'")
            #expect(screen.contains("Lib Version:    0.5.1") && !screen.contains("SDK Version"))
            // --json: the keys docs/json-schemas.md names.
            let json = try JSONSerialization.jsonObject(with: JSONOutput.encoder().encode(report)) as? [String: Any]
            let check = json?["llm_runtime_check"] as? [String: Any]
            #expect(check?["verdict"] as? String == "met" && check?["minimum_driver"] as? String == "0.5.1")
            #expect(json?["libsophon_version"] as? String == "0.5.1" && json?["driver_version"] as? String == "0.5.1")
            #expect(json?["kernel_build_date"] as? String == "2024-07-17")
        }
    }

    @Test func deviceMemoryInUseIsReadPerHeapAndSummedAsBMSMIDoes() async throws {
        try await withBoard(libsophon: "0.4.9") { _, board in
            // What the simulated runtime publishes when a model spills from the NPU heap into VPP (heap mask 7).
            let npuUsed: UInt64 = 0xF6E0_0000 - (16 << 20), vppUsed: UInt64 = 700 << 20
            try publishHeapUse(board, ["npu": npuUsed, "vpp": vppUsed])
            let report = try await inspect(board)
            #expect(report.heaps.first { $0.name == "npu" }?.liveUsedBytes == npuUsed)
            #expect(report.heaps.first { $0.name == "vpp" }?.liveUsedBytes == vppUsed)
            #expect(report.heaps.first { $0.name == "vpu" }?.liveUsedBytes == 0)
            let memory = try #require(report.deviceMemory)
            #expect(memory.usedBytes == npuUsed + vppUsed)
            #expect(memory.totalBytes == 0xF6E0_0000 + (3 << 30) + 0x7FF0_0000)
            #expect(memory.heaps == ["npu", "vpp", "vpu"])
            // The board's own bm-smi shows the same sum, in MiB.
            let screen = try SimulatedBoardHarness.openSSH(board, "/opt/sophon/libsophon-current/bin/bm-smi --noloop")
            #expect(screen.contains(" \((npuUsed + vppUsed) >> 20)MB/\(memory.totalBytes >> 20)MB"))
            let text = BoardReportText.render(report)
            #expect(text.contains("NPU + VPP + VPU heaps"))
        }
    }

    @Test func missingPackageDriverAndDebugfsAreNamedNotMisread() async throws {
        try await withBoard(libsophon: "0.5.1") { harness, board in
            try harness.simulator.inject(.noLibsophonPackage, into: board.name)
            let unpackaged = try await inspect(board)
            #expect(unpackaged.versions.libsophon == "0.5.1")
            #expect(unpackaged.versions.libsophonSource == "/opt/sophon/libsophon-current")
            #expect(unpackaged.warnings == [])

            try harness.simulator.inject(.noTPUDriver, into: board.name)
            let noDriver = try await inspect(board)
            #expect(noDriver.versions.driver == nil)
            #expect(noDriver.llmRuntimeCheck.verdict == .unknown)
            #expect(noDriver.warnings.contains { $0.contains("/sys/module/bmtpu/version is missing") })

            try harness.simulator.inject(.noIonDebugfs, into: board.name)
            let noDebugfs = try await inspect(board)
            #expect(noDebugfs.liveHeapsKnown == false && noDebugfs.deviceMemory == nil)
            #expect(noDebugfs.warnings.contains { $0.contains("no /sys/kernel/debug/ion") })
        }
    }

    // MARK: - Helpers

    private func withBoard(libsophon: String, _ body: (SimulatedBoardHarness, SimulatedBoard) async throws -> Void) async throws {
        let harness = try SimulatedBoardHarness()
        var options = SimulatorOptions()
        options.bootDelay = 0
        options.kernelKiB = 1024
        options.ramdiskKiB = 512
        options.libsophonVersion = libsophon
        do {
            let board = try #require(try harness.simulator.up(options).first)
            try await body(harness, board)
            try harness.tearDown()
        } catch {
            try? harness.tearDown()
            throw error
        }
    }

    private func inspect(_ board: SimulatedBoard) async throws -> BoardReport {
        let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
        let report = try await BoardInspector(profiles: profiles).inspect(session)
        await session.close()
        return report
    }

    /// Writes the files the simulated runtime keeps (`/run/tpudeploy-sim/heap-used/<heap>`), atomically as it does.
    private func publishHeapUse(_ board: SimulatedBoard, _ bytes: [String: UInt64]) throws {
        let commands = bytes.map { heap, value in
            "printf '%s\\n' \(value) > /run/tpudeploy-sim/heap-used/\(heap).tmp && mv -f /run/tpudeploy-sim/heap-used/\(heap).tmp /run/tpudeploy-sim/heap-used/\(heap)"
        }
        try SimulatedBoardHarness.openSSH(board, commands.joined(separator: " && "))
    }
}

/// `inspect --json` from the command line on every kind of simulated board, logged in as the vendor image's
/// `linaro` user (sudo with a password for the debugfs heaps): every fact comes back, nothing is called missing,
/// and the device memory it reports is the figure the board's own bm-smi shows (NPU + VPP + VPU).
@Suite("inspect on every kind of board", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct InspectEveryBoardKindTests {
    typealias Story = DeploymentStoryTests

    @Test(arguments: [("1684x_evb", "16g"), ("se7", "16g"), ("se7_v2", "16g"), ("airbox", "16g"), ("sm7m", "12g")])
    func everyFactAndBMSMIsTotal(board profile: String, ram: String) throws {
        let story = Story()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-inspect-\(profile)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = directory.appendingPathComponent("sim").path
        defer {
            _ = try? story.tpudeploy(["sim", "down", "--state-dir", state], in: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        let up = try story.tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0", "--board", profile, "--ram", ram,
                                      "--libsophon", "0.5.1"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let password = directory.appendingPathComponent("password")
        try Data("linaro\n".utf8).write(to: password)

        let inspected = try story.tpudeploy(["inspect", "--json", "--user", "linaro", "--password-file", password.path], in: directory)
        try #require(inspected.status == 0, "\(inspected.stderr)")
        let report = try JSONOutput.decoder().decode(BoardReport.self, from: Data(inspected.stdout.utf8))
        #expect(report.board == profile)
        #expect(report.warnings == [], "\(report.warnings)")
        #expect(report.versions.libsophon == "0.5.1" && report.versions.driver == "0.5.1")
        #expect(report.llmRuntimeCheck.verdict == .met)
        let memory = try #require(report.deviceMemory)
        let live = report.heaps.compactMap(\.liveBytes)
        #expect(live.count == 3 && memory.totalBytes == live.reduce(0, +))
        #expect(memory.usedBytes == 0)

        // The board's bm-smi, as a person at a login shell runs it once: the same total, in MiB.
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        let board = try simulator.board(named: try #require(try simulator.list().first).board.name)
        let screen = try SimulatedBoardHarness.openSSH(board, "bash -lc 'bm-smi --noloop'")
        #expect(screen.contains(" 0MB/\(memory.totalBytes >> 20)MB"), "\(screen)")
    }
}
