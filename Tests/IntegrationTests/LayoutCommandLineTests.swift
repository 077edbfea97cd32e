import Foundation
import Testing
import TPUDeployKit

/// `tpudeploy layout show` and the offline `tpudeploy fix-memory --image`, run as a user runs them: the built
/// executable on fixture images made by Tests/Fixtures/make-fixtures.sh, its files checked with U-Boot's
/// `dumpimage` and dtc's `fdtget`. No root, no board.
@Suite("tpudeploy layout show and fix-memory --image")
struct LayoutCommandLineTests {
    static let mib: UInt64 = 1 << 20

    @Test func layoutShowPrintsEveryDTBWithItsMaxima() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        let outcome = try tpudeploy(["layout", "show", "--image", files.image16, "--its", files.its16])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty)
        let dtbs = ["bm1684x_evb_v0.0", "bm1684x_se7_v1", "bm1684x_se7_v1_12g", "bm1684x_sm7m_v0.0", "bm1684x_airbox_v1"]
        for (index, dtb) in dtbs.enumerated() {
            #expect(outcome.stdout.contains("\(dtb).dtb (fdt-\(index + 1))"), "\(dtb)")
        }
        // The EVB's section: its factory heaps, what Linux keeps, and memory_edit.sh -p's maxima.
        let evb = try #require(outcome.stdout.components(separatedBy: "\n\n").first)
        #expect(evb.contains("ion_npu_mem      DDR0  0x1_24100000  0x2_1aefffff  3950 MiB  npu heap"))
        #expect(evb.contains("heaps: npu 3950 MiB, vpu 2048 MiB, vpp 3072 MiB"))
        #expect(evb.contains("max: npu 7615 MiB, vpu 3071 MiB, vpp 4096 MiB"))
        #expect(!outcome.stdout.contains("signed"))
    }

    @Test func layoutShowJSONIsTheLibrarysReport() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        for (image, its, board, limits) in [
            (files.image16, files.its16, "bm1684x_evb_v0.0.dtb", LayoutLimits(maxNPUMiB: 7615, maxVPUMiB: 3071, maxVPPMiB: 4096)),
            (files.image12, files.its12, "bm1684x_se7_v1_12g.dtb", LayoutLimits(maxNPUMiB: 3519, maxVPUMiB: 3071, maxVPPMiB: 4096)),
        ] {
            let outcome = try tpudeploy(["layout", "show", "--image", image, "--its", its, "--json"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let report = try JSONOutput.decoder().decode(LayoutReport.self, from: Data(outcome.stdout.utf8))
            #expect(report == (try LocalBootImage(image: image, its: its).layouts()))
            #expect(report.schema == "tpudeploy.layout/1")
            #expect(report.dtbs.count == 5)
            let own = try #require(report.dtbs.first { $0.dtb == board })
            #expect(own.limits == limits)
        }
    }

    @Test func fixMemoryWritesTheImageAndITSAndReportsTheLayoutAsJSON() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        let inputs = try files.digests()
        let output = files.scratch.appendingPathComponent("out").path
        let outcome = try tpudeploy([
            "fix-memory", "--image", files.image16, "--its", files.its16, "--dtb", "bm1684x_evb_v0.0",
            "--npu", "7168", "--vpu", "0", "--vpp", "2048", "--output", output, "--json",
        ])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty)
        let result = try JSONOutput.decoder().decode(LocalFixResult.self, from: Data(outcome.stdout.utf8))
        #expect(result.schema == "tpudeploy.fix-memory-image/1")
        #expect(result.status == .written)
        #expect(result.fdtImage == "fdt-1")
        #expect(result.plan.request == HeapRequest(npuMiB: 7168, vpuMiB: 0, vppMiB: 2048))
        #expect(result.outputImage == output + "/emmcboot.itb")
        #expect(result.outputITS == output + "/multi.its")
        #expect(result.layout.heaps.map(\.kind) == [.npu, .vpp])
        #expect(result.layout.heap(.npu).map { [$0.start, $0.size] } == [0x1_2410_0000, 7168 * Self.mib])
        // vpu_mem moves above the vpp heap's bank start when the vpu heap goes (memory_edit.sh's rule).
        #expect(result.layout.heap(.vpp).map { [$0.start, $0.size] } == [0x4_7ff0_0000, 2048 * Self.mib])
        #expect(result.layout.reservedRegions.first { $0.name == "vpu_mem" }?.start == 0x4_77f0_0000)

        // The files: dumpimage reads the image; fdtget reads back every region of the JSON layout.
        let dtb = try files.extractDTB(index: 2, from: result.outputImage ?? "")
        for region in result.layout.reservedRegions {
            guard let start = region.start else { continue }
            #expect(try fdtgetHex(dtb, "/reserved-memory/" + region.name, "reg") == [start >> 32, start & 0xFFFF_FFFF, region.size >> 32, region.size & 0xFFFF_FFFF], "\(region.name)")
        }
        #expect(try run("fdtget", [dtb, "/reserved-memory/ion_vpu_mem", "status"]).stdout == "disabled\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output + "/multi.its")) == Data(contentsOf: URL(fileURLWithPath: files.its16)))
        #expect(try files.digests() == inputs, "the inputs are unchanged")
    }

    @Test func fixMemoryWithABoardPresetOrAModel() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        // --preset llm of Profiles/boards/1684x_evb.yaml: npu 7168, vpu 1024, vpp 2048.
        // --for-model chatglm2-6b: its 6453 MiB (ModelMemoryNeed of its real dimensions) plus the board's 256 MiB headroom; vpu 1024, vpp 2048.
        // Without --board, the profile is the one whose dtb_file_names hold --dtb.
        let choices: [([String], UInt64)] = [
            (["--board", "1684x_evb", "--preset", "llm"], 7168), (["--board", "1684x_evb", "--for-model", "chatglm2-6b"], 6709),
            (["--dtb", "bm1684x_evb_v0.0", "--preset", "llm"], 7168),
        ]
        for (choice, npu) in choices {
            let output = files.scratch.appendingPathComponent("out-\(choice.joined(separator: "-"))").path
            let outcome = try tpudeploy(["fix-memory", "--image", files.image16] + choice + ["--output", output])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.isEmpty)
            #expect(outcome.stdout.contains("bm1684x_evb_v0.0.dtb in fdt-1"))
            #expect(outcome.stdout.contains("wrote \(output)/emmcboot.itb"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: output) == ["emmcboot.itb"], "no .its given, none written")
            let dtb = try files.extractDTB(index: 2, from: output + "/emmcboot.itb")
            for (node, size) in [("ion_npu_mem", npu), ("ion_vpu_mem", 1024), ("ion_vpp_mem", 2048)] {
                let bytes = size * Self.mib
                #expect(try fdtgetHex(dtb, "/reserved-memory/" + node, "reg").suffix(2) == [bytes >> 32, bytes & 0xFFFF_FFFF], "\(choice) \(node)")
            }
        }
        // Explicit sizes without --board: memory_edit.sh's maxima, with no Linux minimum (Linux keeps 831.75 MiB).
        let maxima = files.scratch.appendingPathComponent("max").path
        let max = try tpudeploy(["fix-memory", "--image", files.image16, "--dtb", "bm1684x_evb_v0.0", "--npu", "7615", "--vpu", "3071", "--vpp", "4096", "--output", maxima])
        #expect(max.status == 0, "\(max.stderr)")
        #expect(max.stdout.contains("831.75 MiB"))
        // A dry run prints the plan and writes nothing.
        let dry = files.scratch.appendingPathComponent("dry").path
        let outcome = try tpudeploy(["fix-memory", "--image", files.image16, "--dtb", "bm1684x_evb_v0.0", "--preset", "llm", "--output", dry, "--dry-run"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("--dry-run: nothing written"))
        #expect(!FileManager.default.fileExists(atPath: dry))
    }

    /// --for-model FILE with a bmodel over 4 GiB, written as the vendor writers write one (binary_size wrapped to 32
    /// bits) by Tests/Reference/make_big_sim_model.py: llama2-sim's weights after a sparse 4 GiB hole, chip BM1686.
    @Test func fixMemoryForAModelFileOver4GiB() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        let big = files.scratch.appendingPathComponent("llama2-sim-big.bmodel").path
        let made = try run(repositoryRoot.appendingPathComponent("build/venv/bin/python").path, [
            repositoryRoot.appendingPathComponent("Tests/Reference/make_big_sim_model.py").path,
            "--model", repositoryRoot.appendingPathComponent("build/sim-models/llama2-sim").path,
            "--hole-gib", "4", "--chip", "BM1686", "--output", big,
        ])
        try #require(made.status == 0, "make_big_sim_model.py (needs `make sim-models`): \(made.stderr)")
        let model = try BModel(contentsOf: big)
        #expect(model.binaryBytes > 4 << 30)
        let output = files.scratch.appendingPathComponent("out").path
        let outcome = try tpudeploy(["fix-memory", "--image", files.image16, "--board", "1684x_evb", "--for-model", big,
                                     "--output", output, "--dry-run", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let result = try JSONOutput.decoder().decode(LocalFixResult.self, from: Data(outcome.stdout.utf8))
        // The model's whole memory need (weights, neuron blocks, KV cache, engine buffers), rounded up to MiB,
        // plus the EVB profile's 256 MiB headroom.
        #expect(result.plan.request.npuMiB == (ModelMemoryNeed(model: model).totalBytes + Self.mib - 1) / Self.mib + 256)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// Every refusal: status 1, one line on stderr, nothing written.
    /// A kernel whose hash does not match (one byte flipped, as bit rot would) while every dtb is intact: U-Boot
    /// would not boot the image, so `layout show` refuses it with one line naming the kernel, not a layout.
    @Test func layoutShowRefusesAnImageWithADamagedKernel() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        let damaged = files.scratch.appendingPathComponent("damaged-kernel.itb").path
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: files.image16)))
        let kernel = try #require(try FITImage(bytes: bytes).image(named: "kernel-1").data)
        bytes[kernel.fileOffset + kernel.size / 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))
        for arguments in [["layout", "show", "--image", damaged], ["layout", "show", "--image", damaged, "--json"]] {
            let outcome = try tpudeploy(arguments)
            #expect(outcome.status == 1, "\(arguments): \(outcome.stdout)")
            let lines = outcome.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("tpudeploy: error: "), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("'kernel-1' is damaged") && outcome.stderr.contains("U-Boot refuses to boot"), "\(outcome.stderr)")
            #expect(!outcome.stdout.contains("heaps:"))
        }
    }

    @Test func errorsExitWithOneLine() throws {
        let files = try FixtureFiles()
        defer { files.remove() }
        let output = files.scratch.appendingPathComponent("out").path
        let sizes = ["--npu", "1024", "--vpu", "1024", "--vpp", "1024", "--output", output]
        let cases: [(arguments: [String], says: String)] = [
            (["fix-memory", "--image", files.path("bad/without-board-dtb.itb"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "it holds: bm1684x_se7_v1.dtb, bm1684x_se7_v1_12g.dtb, bm1684x_sm7m_v0.0.dtb, bm1684x_airbox_v1.dtb"),
            (["fix-memory", "--image", files.path("bad/truncated.itb"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "truncated"),
            (["fix-memory", "--image", files.path("bad/flipped-byte.itb"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "damaged"),
            (["fix-memory", "--image", files.path("bad/not-a-fit.its"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "not a FIT"),
            (["fix-memory", "--image", files.path("bad/signed.itb"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "signing key"),
            (["fix-memory", "--image", files.image16, "--its", files.path("its/other-default.its"), "--dtb", "bm1684x_evb_v0.0"] + sizes, "does not belong to the boot image"),
            (["fix-memory", "--image", files.image16, "--its", files.its16, "--dtb", "bm1684x_evb_v0.0", "--npu", "1024", "--vpu", "1024", "--vpp", "1024", "--output", files.path("fit-16g")], "the input is never modified"),
            (["fix-memory", "--image", files.image16, "--dtb", "bm1684x_evb_v0.0", "--npu", "9000", "--vpu", "1024", "--vpp", "1024", "--output", output], "at most 7615 MiB"),
            (["fix-memory", "--image", files.image12, "--board", "sm7m", "--for-model", "llama2-13b", "--output", output], "no layout of this board can hold it"),
            // Its total fits the 12 GB board's heaps, its one 4608 MiB block fits none of them (at most 4096 MiB).
            (["fix-memory", "--image", files.image12, "--board", "sm7m", "--for-model", "llama2-sim", "--output", output], "llama2-sim needs one allocation of 4608 MiB"),
            (["fix-memory", "--image", files.image12, "--board", "1684x_evb", "--dtb", "bm1684x_sm7m_v0.0", "--preset", "llm", "--output", output], "--board sm7m"),
            (["fix-memory", "--image", files.image12, "--preset", "llm", "--output", output], "--board PROFILE"),
            (["fix-memory", "--image", files.scratch.appendingPathComponent("missing.itb").path, "--dtb", "bm1684x_evb_v0.0"] + sizes, "missing.itb"),
            (["layout", "show", "--image", files.path("bad/flipped-byte.itb")], "damaged"),
            (["layout", "show", "--image", files.image16, "--its", files.path("its/foreign-dtb.its")], "bm1684x_airbox_v2.dtb"),
        ]
        let fixtureDigests = try files.digests()
        for (arguments, says) in cases {
            let outcome = try tpudeploy(arguments)
            let lines = outcome.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(outcome.status == 1, "\(arguments)")
            #expect(lines.count == 1 && lines[0].hasPrefix("tpudeploy: error: "), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr.contains(says), "\(arguments): \(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output), "\(arguments) wrote nothing")
        }
        #expect(try files.digests() == fixtureDigests)

        // With --json the error is also a JSON object on stdout.
        let outcome = try tpudeploy(["layout", "show", "--image", files.path("bad/truncated.itb"), "--json"])
        #expect(outcome.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: String]
        #expect(object?["error"]?.contains("truncated") == true)
        #expect(outcome.stderr.split(separator: "\n").count == 1)
    }
}

// MARK: Running tpudeploy and the tools

/// The built `tpudeploy` executable, beside the test bundle.
private let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs tpudeploy with the repository's profiles and no terminal on stdin.
private func tpudeploy(_ arguments: [String]) throws -> Outcome {
    var environment = ProcessInfo.processInfo.environment
    environment["TPUDEPLOY_PROFILES"] = repositoryRoot.appendingPathComponent("Profiles").path
    return try run(executable, arguments, environment: environment)
}

/// Runs a program (a path, or a name looked up in PATH); stdout and stderr go to files so neither pipe can fill.
private func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
    process.arguments = program.hasPrefix("/") ? arguments : [program] + arguments
    if let environment { process.environment = environment }
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-run-\(UUID().uuidString)")
    let (out, err) = (base.appendingPathExtension("out"), base.appendingPathExtension("err"))
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
    }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return Outcome(
        status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

private struct ToolFailed: Error, CustomStringConvertible {
    var description: String
}

/// `fdtget -t x` words of a property, as numbers.
private func fdtgetHex(_ dtb: String, _ node: String, _ property: String) throws -> [UInt64] {
    let outcome = try run("fdtget", ["-t", "x", dtb, node, property])
    guard outcome.status == 0 else { throw ToolFailed(description: "fdtget \(node) \(property): \(outcome.stderr)") }
    return outcome.stdout.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0, radix: 16) }
}

/// A fresh set of fixture images in a scratch directory, made by the repository's make-fixtures.sh (about a
/// quarter of a second), so that these tests never race the unit tests' copy under Tests/Fixtures/build.
private struct FixtureFiles {
    let scratch: URL
    let fixtures: URL

    init() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-layout-\(UUID().uuidString.prefix(8))")
        fixtures = scratch.appendingPathComponent("fixtures")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/make-fixtures.sh").path
        let outcome = try run("/bin/bash", [script, fixtures.path])
        guard outcome.status == 0 else {
            remove()
            throw ToolFailed(description: "make-fixtures.sh: \(outcome.stderr)")
        }
    }

    func remove() { try? FileManager.default.removeItem(at: scratch) }

    func path(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }
    var image16: String { path("fit-16g/emmcboot.itb") }
    var its16: String { path("fit-16g/multi.its") }
    var image12: String { path("fit-12g/emmcboot.itb") }
    var its12: String { path("fit-12g/multi.its") }

    /// `dumpimage -T flat_dt -p index` of an image, into the scratch directory; `dumpimage -l` must accept it first.
    func extractDTB(index: Int, from image: String) throws -> String {
        let listing = try run("dumpimage", ["-l", image])
        guard listing.status == 0, listing.stdout.contains("Image \(index) (fdt-") else {
            throw ToolFailed(description: "dumpimage -l \(image): \(listing.stderr)")
        }
        let file = scratch.appendingPathComponent("extracted-\(UUID().uuidString.prefix(8)).dtb").path
        let outcome = try run("dumpimage", ["-T", "flat_dt", "-p", "\(index)", "-o", file, image])
        guard outcome.status == 0 else { throw ToolFailed(description: "dumpimage -p \(index) \(image): \(outcome.stderr)") }
        return file
    }

    /// sha256sum of every fixture image and .its.
    func digests() throws -> String {
        let files = ["fit-16g/emmcboot.itb", "fit-16g/multi.its", "fit-12g/emmcboot.itb", "fit-12g/multi.its"].map(path)
        return try run("sha256sum", files).stdout
    }
}
