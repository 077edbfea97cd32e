import Foundation
import Synchronization
import Testing

@testable import TPUDeployKit

/// `LocalBootImage` on the fixture images (the offline `fix-memory --image` and `layout show`), judged by U-Boot's
/// `dumpimage`, dtc's `fdtget` and coreutils' `sha256sum` against what Sophgo's memory_edit.sh wrote for the same
/// request (`memory-edit-oracle.json`) — not by the Swift code that wrote the files.
@Suite struct LocalBootImageTests {
    /// A fixture image with its multi.its and the dtb memory_edit.sh edited in it (an oracle "board").
    struct Fixture {
        var image: URL
        var its: URL
        var dtb: String
        /// The work directory with the dtbs the image was built from.
        var work: URL

        init(board: String) throws {
            let directory = board.hasPrefix("12g") ? "fit-12g" : "fit-16g"
            image = try BootImageFixture.url("\(directory)/emmcboot.itb")
            its = try BootImageFixture.url("\(directory)/multi.its")
            dtb = board.hasPrefix("12g") ? BootImageFixture.se7With12GB : BootImageFixture.evb
            work = try BootImageFixture.url("\(directory)/work")
        }

        /// `fdt-1`…`fdt-5`, in `BootImageFixture.familyDTBs` order.
        var fdtImage: String { "fdt-\((BootImageFixture.familyDTBs.firstIndex(of: dtb) ?? -1) + 1)" }

        /// The sha256 of every file the tests must leave alone.
        func inputDigests() throws -> [String: String] {
            var digests: [String: String] = [:]
            for file in [image, its] { digests[file.path] = try sha256(file) }
            return digests
        }
    }

    // MARK: Writing every rule, read back with the independent tools

    /// One row per rule and fixture: the factory layout (unchanged), the maxima, each heap removed, all removed,
    /// the vpu heap removed with the vpp heap kept (vpu_mem moves to DDR3), and restoring heaps on our own output.
    static let writtenRows = ["16g", "12g"].flatMap { board in
        [
            "factory", "max", "llm", "minimal-heaps", "no-npu", "no-vpu", "no-vpp", "no-heaps", "no-vpu-vpp-1024",
            "no-vpu-vpp-4095", "npu-max-no-vpu", "restore-vpu", "restore-npu", "restore-all", "restore-vpu-only",
        ].map { "\(board)-\($0)" }
    }

    @Test(arguments: writtenRows)
    func writesWhatMemoryEditWrote(_ name: String) throws {
        let table = try MemoryEditOracle.table()
        let row = try table.row(name)
        #expect(row.outcome == "written")
        let fixture = try Fixture(board: row.board)
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inputs = try fixture.inputDigests()

        // Rows with `after` ran the script on its own output: run ours on our own output the same way.
        var chain = [row]
        while let after = chain[0].after { chain.insert(try table.row(after), at: 0) }
        var image = fixture.image
        var its = fixture.its
        for (step, run) in chain.enumerated() {
            let request = try #require(run.request)
            let output = scratch.appendingPathComponent("step-\(step)")
            let result = try LocalBootImage(image: image.path, its: its.path).fix(
                dtb: fixture.dtb, sizing: .explicit(Self.sizes(request)), minimumLinuxMiB: 0,
                outputDirectory: output.path, dryRun: false)
            #expect(result.fdtImage == fixture.fdtImage)
            #expect(result.plan.request == request)
            #expect(result.layout == result.plan.after)
            #expect(result.status == (result.plan.isNoChange ? .unchanged : .written))
            #expect(result.outputImage == output.appendingPathComponent("emmcboot.itb").path)
            #expect(result.outputITS == output.appendingPathComponent("multi.its").path)
            if result.plan.isNoChange {
                #expect(try sha256(output.appendingPathComponent("emmcboot.itb")) == sha256(image), "an unchanged copy")
            }
            image = output.appendingPathComponent("emmcboot.itb")
            its = output.appendingPathComponent("multi.its")
            if step == chain.count - 1 { try expectHeaps(result.layout, as: row) }
        }
        try expectWritten(image, its: its, fixture: fixture, as: row, scratch: scratch)
        #expect(try fixture.inputDigests() == inputs, "the input files are unchanged")
    }

    /// memory_edit.sh's non-factory branch (ramoops_mem moved), on an image built from the fixture's own sources
    /// the way the oracle's was (`fdtput` then `mkimage -f multi.its`).
    @Test(arguments: ["factory", "vpu-max", "vpu-512", "no-vpu", "no-vpu-vpp", "restore-vpu"].map { "16g-ramoops-moved-\($0)" })
    func writesWhatMemoryEditWroteWithRamoopsMoved(_ name: String) throws {
        let table = try MemoryEditOracle.table()
        let row = try table.row(name)
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var fixture = try Self.ramoopsMovedImage(in: scratch, edits: try #require(table.boards[row.board]?.edits))

        var chain = [row]
        while let after = chain[0].after { chain.insert(try table.row(after), at: 0) }
        let original = fixture.image
        for (step, run) in chain.enumerated() {
            let output = scratch.appendingPathComponent("step-\(step)")
            let result = try LocalBootImage(image: fixture.image.path, its: fixture.its.path).fix(
                dtb: fixture.dtb, sizing: .explicit(Self.sizes(try #require(run.request))), minimumLinuxMiB: 0,
                outputDirectory: output.path, dryRun: false)
            if step == chain.count - 1 { try expectHeaps(result.layout, as: row) }
            fixture.image = output.appendingPathComponent("emmcboot.itb")
            fixture.its = output.appendingPathComponent("multi.its")
        }
        let written = fixture.image
        fixture.image = original
        try expectWritten(written, its: fixture.its, fixture: fixture, as: row, scratch: scratch)
    }

    /// The heaps in `LocalFixResult.layout` (what `--json` prints) are the ion regions the script wrote.
    private func expectHeaps(_ layout: BoardMemoryLayout, as row: MemoryEditOracle.Row) throws {
        let expected = try #require(row.reservedMemory)
        for kind in IONHeapKind.allCases {
            let range = expected["ion_\(kind.rawValue)_mem"]?.reg?.first?.range
            #expect(layout.heap(kind).map { AddressRange(start: $0.start, size: $0.size) } == range, "\(kind) heap")
        }
    }

    /// `output` passes `dumpimage -l` with the input's images and configurations; its board dtb, extracted by
    /// `dumpimage`, has the hashes the image records (computed by sha1sum, sha256sum, gzip) and, read by `fdtget`,
    /// the script's regs; every other image, extracted from both, is byte for byte the input's; the written .its
    /// is the input's.
    private func expectWritten(
        _ output: URL, its: URL, fixture: Fixture, as row: MemoryEditOracle.Row, scratch: URL
    ) throws {
        let listing = try DumpImageListing(file: output)
        let original = try ExtractedImages.of(fixture.image)
        #expect(listing.images.map(\.name) == original.listing.images.map(\.name))
        #expect(listing.configurations == original.listing.configurations)
        #expect(listing.defaultConfiguration == original.listing.defaultConfiguration)
        #expect(listing.description == original.listing.description)

        for image in listing.images {
            let new = scratch.appendingPathComponent("new-\(image.name)")
            try extract(image.index, of: output, to: new)
            if image.name == fixture.fdtImage {
                #expect(!image.hashes.isEmpty)
                for hash in image.hashes {
                    let (algo, value) = (String(hash.prefix { $0 != ":" }), String(hash.drop { $0 != ":" }.dropFirst()))
                    #expect(value == (try digest(algo, of: new)), "\(image.name) \(algo)")
                }
                #expect(image.dataSize == (try Data(contentsOf: new)).count)
                try expectRegs(of: new, as: row)
            } else {
                #expect(try Data(contentsOf: new) == original.data[image.name], "\(image.name) bytes")
                #expect(image == original.listing.images.first { $0.name == image.name }, "\(image.name) listing")
            }
        }
        #expect(try Data(contentsOf: its) == Data(contentsOf: fixture.its), "the written multi.its is the input's")
    }

    /// Every `/reserved-memory` node the script left has its `reg`; our only other nodes are disabled
    /// placeholders of removed heaps, without `reg`. The TPU and video decoder references are the script's too.
    private func expectRegs(of dtb: URL, as row: MemoryEditOracle.Row) throws {
        let expected = try #require(row.reservedMemory)
        let children = try Tool.output("fdtget", ["-l", dtb.path, "/reserved-memory"]).split(separator: "\n").map(String.init)
        var enabled: Set<String> = []
        for name in children {
            let path = "/reserved-memory/" + name
            let status = try Tool.run("fdtget", [dtb.path, path, "status"])
            if status.status == 0, status.stdout.hasPrefix("disabled") {
                #expect(try Tool.run("fdtget", [dtb.path, path, "reg"]).status != 0, "placeholder \(name) has no reg")
            } else {
                enabled.insert(name)
            }
        }
        #expect(enabled == Set(expected.keys), "reserved-memory children")
        for (name, node) in expected where enabled.contains(name) {
            let path = "/reserved-memory/" + name
            if let reg = node.reg {
                let words = try Tool.fdtgetHex(dtb, path, "reg")
                let ranges = stride(from: 0, to: words.count - 3, by: 4).map {
                    AddressRange(start: words[$0] << 32 | words[$0 + 1], size: words[$0 + 2] << 32 | words[$0 + 3])
                }
                #expect(words.count == reg.count * 4 && ranges == reg.map(\.range), "\(name) reg")
            } else {
                #expect(try Tool.run("fdtget", [dtb.path, path, "reg"]).status != 0, "\(name) has no reg")
            }
        }
        #expect(try Tool.fdtgetHex(dtb, "/bmtpu@1f000000", "memory-region") == row.tpuMemoryRegion?.map(UInt64.init))
        #expect(try Tool.fdtgetHex(dtb, "/vdec@50050000", "memory-region") == row.vdecMemoryRegion?.map(UInt64.init))
    }

    // MARK: Refusals of memory_edit.sh

    static let refusedRows = ["16g", "12g"].flatMap { board in
        ["npu-over", "npu-9000", "vpu-over", "vpp-over", "no-vpu-vpp-4096", "no-vpu-vpp-3968"].map { "\(board)-\($0)" }
    }

    /// A request the script refuses (or, for vpp 3968 without vpu, one it botches) is refused, the message
    /// states the maximum, and nothing is written.
    @Test(arguments: refusedRows)
    func refusesWhatMemoryEditRefuses(_ name: String) throws {
        let row = try MemoryEditOracle.table().row(name)
        let fixture = try Fixture(board: row.board)
        let request = try #require(row.request)
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("out")

        let error = #expect(throws: MemoryPlanError.self) {
            try LocalBootImage(image: fixture.image.path, its: fixture.its.path).fix(
                dtb: fixture.dtb, sizing: .explicit(Self.sizes(request)), minimumLinuxMiB: 0,
                outputDirectory: output.path, dryRun: false)
        }
        switch error {
        case .tooLarge(let heap, let requested, let maximum)?:
            #expect(row.outcome == "refused")
            #expect(requested == request.mebibytes(heap))
            #expect(error?.description.contains("at most \(maximum) MiB") == true)
            #expect(row.messages?.first?.hasPrefix("Error: \(heap.rawValue) size ") == true)
        case .vpuFirmwareDoesNotFit(let vpp)?:
            #expect(name.hasSuffix("-3968") && vpp == 3968)
        default:
            Issue.record("unexpected \(String(describing: error))")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path), "nothing written")
    }

    @Test func aModelLargerThanTheNPUHeapCanBeSpillsIntoALargerVPPHeap() throws {
        let fixture = try Fixture(board: "12g")
        let store = ProfileStore(directory: BootImageFixture.repository.appendingPathComponent("Profiles"))
        let board = try store.board(named: "sm7m")
        // chatglm2-6b: 6453 + 256 MiB; the NPU heap can be 3519 MiB at most, the runtime puts the rest in VPP.
        let sizing = try LayoutChoice.model(store.model(named: "chatglm2-6b")).sizing(for: board)
        let result = try LocalBootImage(image: fixture.image.path, its: nil).fix(
            dtb: fixture.dtb, sizing: sizing, minimumLinuxMiB: 2048, outputDirectory: nil, dryRun: true)
        let mib: UInt64 = 1 << 20
        #expect(result.plan.after.heap(.npu)?.size == 3519 * mib)
        #expect(result.plan.after.heap(.vpp)?.size == (6453 + 256 - 3519) * mib)
        #expect(result.plan.after.heap(.vpu)?.size == 1024 * mib)
        // llama2-13b: more than any layout of a 12 GB board gives the heaps while Linux keeps 2048 MiB.
        let thirteen = try LayoutChoice.model(store.model(named: "llama2-13b")).sizing(for: board)
        let error = #expect(throws: LayoutSizingError.self) {
            try LocalBootImage(image: fixture.image.path, its: nil).fix(
                dtb: fixture.dtb, sizing: thirteen, minimumLinuxMiB: 2048, outputDirectory: nil, dryRun: true)
        }
        #expect(error?.description.contains("no layout of this board can hold it") == true, "\(String(describing: error))")
        #expect(error?.description.contains("int4") == true)
    }

    // MARK: layout show

    @Test(arguments: ["16g", "12g"])
    func layoutsListEveryDTBWithItsLimits(_ board: String) throws {
        let table = try MemoryEditOracle.table()
        let fixture = try Fixture(board: board)
        let report = try LocalBootImage(image: fixture.image.path, its: fixture.its.path).layouts()
        #expect(report.schema == "tpudeploy.layout/1")
        #expect(report.image == fixture.image.path)
        #expect(!report.signed)
        #expect(report.dtbs.map(\.dtb) == BootImageFixture.familyDTBs.map { $0 + ".dtb" })
        #expect(report.dtbs.map(\.fdtImage) == (1...5).map { "fdt-\($0)" })

        let printed16 = try #require(table.row("16g-print").printedMaxMiB)
        let printed12 = try #require(table.row("12g-print").printedMaxMiB)
        for entry in report.dtbs {
            // Every region and heap as fdtget reads it from the dtb the image was built from.
            let dtb = fixture.work.appendingPathComponent(entry.dtb)
            let names = try Tool.output("fdtget", ["-l", dtb.path, "/reserved-memory"]).split(separator: "\n").map(String.init)
            #expect(entry.layout.reservedRegions.map(\.name) == names, "\(entry.dtb) regions")
            for region in entry.layout.reservedRegions {
                let path = "/reserved-memory/" + region.name
                if let start = region.start {
                    let words = try Tool.fdtgetHex(dtb, path, "reg")
                    #expect(words == [start >> 32, start & 0xFFFF_FFFF, region.size >> 32, region.size & 0xFFFF_FFFF], "\(entry.dtb) \(region.name)")
                } else {
                    let words = try Tool.fdtgetHex(dtb, path, "size")
                    #expect(words == [region.size >> 32, region.size & 0xFFFF_FFFF], "\(entry.dtb) \(region.name) size")
                }
            }
            #expect(entry.layout.heaps.map(\.kind) == [.npu, .vpu, .vpp], "\(entry.dtb) heaps")
            #expect(entry.limitsError == nil)
            let printed = entry.layout.banks.count == 4 ? printed16 : printed12
            #expect(entry.limits == LayoutLimits(maxNPUMiB: printed["npu"] ?? 0, maxVPUMiB: printed["vpu"] ?? 0, maxVPPMiB: printed["vpp"] ?? 0), "\(entry.dtb) limits")
        }
        // The board's own dtb: the maxima `memory_edit.sh -p` printed. (Its factory heaps are the dtb's, read above;
        // the script's "factory" request writes ion_vpu_mem 1 MiB lower than the vendor dtb has it.)
        let own = try #require(report.dtbs.first { $0.fdtImage == fixture.fdtImage })
        #expect(own.dtb == fixture.dtb + ".dtb")
        let printed = try #require(table.row("\(board)-print").printedMaxMiB)
        #expect(own.limits == LayoutLimits(maxNPUMiB: printed["npu"] ?? 0, maxVPUMiB: printed["vpu"] ?? 0, maxVPPMiB: printed["vpp"] ?? 0))
    }

    @Test func layoutsOfASignedImageSayItIsSigned() throws {
        let report = try LocalBootImage(image: BootImageFixture.url("bad/signed.itb").path, its: nil).layouts()
        #expect(report.signed)
        #expect(report.dtbs.count == 5)
    }

    /// `layout show` reads only; a dtb with a hash tpudeploy cannot check is still shown.
    @Test func layoutsShowADTBWithAnUnknownHashAlgorithm() throws {
        let report = try LocalBootImage(image: BootImageFixture.url("bad/unknown-hash-algo.itb").path, its: nil).layouts()
        #expect(report.dtbs.count == 5)
    }

    // MARK: Errors

    @Test func aDTBTheImageDoesNotHoldListsTheOnesItHolds() throws {
        let image = try BootImageFixture.url("bad/without-board-dtb.itb").path
        let error = #expect(throws: (any Error).self) {
            try LocalBootImage(image: image, its: nil).fix(
                dtb: BootImageFixture.evb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 1, vpuMiB: 1, vppMiB: 1))),
                minimumLinuxMiB: 0, outputDirectory: nil, dryRun: true)
        }
        let message = "\(error.map { String(describing: $0) } ?? "")"
        #expect(message.contains("no dtb named \(BootImageFixture.evb)"))
        for other in BootImageFixture.familyDTBs.dropFirst() { #expect(message.contains(other + ".dtb"), "\(other)") }
        #expect(!message.contains("/proc/device-tree"), "a local image is not a board")
    }

    @Test func damagedImagesAreRefused() throws {
        func error(_ image: String, dtb: String = BootImageFixture.evb) throws -> (any Error)? {
            let path = try BootImageFixture.url(image).path
            return #expect(throws: (any Error).self) {
                try LocalBootImage(image: path, its: nil).fix(
                    dtb: dtb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 1, vpuMiB: 1, vppMiB: 1))),
                    minimumLinuxMiB: 0, outputDirectory: nil, dryRun: true)
            }
        }
        guard case .truncated? = try error("bad/truncated.itb") as? FITError else { Issue.record("truncated"); return }
        guard case .hashMismatch(let image, _, _, _, _)? = try error("bad/flipped-byte.itb") as? FITError, image == "fdt-1" else {
            Issue.record("flipped byte")
            return
        }
        guard case .notAFlattenedDeviceTree? = try error("bad/not-a-fit.its") as? FITError else { Issue.record("not a FIT"); return }
        guard case .unsupportedHashAlgorithm(let image2, _, "md5")? = try error("bad/unknown-hash-algo.itb", dtb: "bm1684x_se7_v1") as? FITError,
            image2 == "fdt-2"
        else {
            Issue.record("unknown hash algorithm")
            return
        }
        guard case .externalDataOutOfBounds? = try error("bad/external-out-of-bounds.itb") as? FITError else {
            Issue.record("external data out of bounds")
            return
        }
        // layout show refuses a damaged dtb too, rather than print a layout from it.
        #expect(throws: LocalBootImageError.self) { try LocalBootImage(image: BootImageFixture.url("bad/flipped-byte.itb").path, its: nil).layouts() }
    }

    /// A damaged kernel would be carried into the new image: refuse it before writing.
    @Test func aDamagedKernelIsRefused() throws {
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var bytes = try BootImageFixture.bytes(BootImageFixture.fit16GB)
        let location = try #require(try FITImage(bytes: bytes).image(named: "kernel-1").data)
        bytes[location.fileOffset + location.size / 2] ^= 0x01
        let damaged = scratch.appendingPathComponent("emmcboot.itb")
        try Data(bytes).write(to: damaged)
        let output = scratch.appendingPathComponent("out")
        let error = #expect(throws: FITError.self) {
            try LocalBootImage(image: damaged.path, its: nil).fix(
                dtb: BootImageFixture.evb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 1, vpuMiB: 1, vppMiB: 1))),
                minimumLinuxMiB: 0, outputDirectory: output.path, dryRun: false)
        }
        guard case .hashMismatch("kernel-1", _, _, _, _)? = error else {
            Issue.record("expected the kernel's hash mismatch, got \(String(describing: error))")
            return
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
        // layout show refuses it too: its dtbs are intact, but U-Boot would not boot the image.
        let shown = #expect(throws: LocalBootImageError.self) { try LocalBootImage(image: damaged.path, its: nil).layouts() }
        guard case .damaged(let path, let reason)? = shown else { Issue.record("expected damaged, got \(String(describing: shown))"); return }
        #expect(path == damaged.path && reason.contains("kernel-1"))
        #expect("\(shown.map { String(describing: $0) } ?? "")".contains("U-Boot refuses to boot"))
    }

    @Test func aSignedImageCannotBeRewritten() throws {
        let error = #expect(throws: FITError.self) {
            try LocalBootImage(image: BootImageFixture.url("bad/signed.itb").path, its: nil).fix(
                dtb: BootImageFixture.evb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 1, vpuMiB: 1, vppMiB: 1))),
                minimumLinuxMiB: 0, outputDirectory: nil, dryRun: true)
        }
        #expect(error == .signed(signatureNodes: ["/configurations/config-1/signature-1"]))
        #expect(error?.description.contains("signing key") == true)
    }

    /// Every mismatching .its fixture, and the right .its with an image that lacks one of its dtbs.
    @Test(arguments: ["foreign-dtb", "other-hash", "other-default", "other-configuration", "truncated"])
    func aMismatchingITSIsRefused(_ name: String) throws {
        let image = try BootImageFixture.url(BootImageFixture.fit16GB).path
        let its = try BootImageFixture.url("its/\(name).its").path
        let error = #expect(throws: (any Error).self) { try LocalBootImage(image: image, its: its) }
        if name == "truncated" {
            #expect(error is ITSSyntaxError)
            #expect("\(error.map { String(describing: $0) } ?? "")".contains(its))
        } else {
            let mismatch = try #require(error as? ITSMismatchError)
            switch (name, mismatch) {
            case ("foreign-dtb", .dtbFileDiffers(image: "fdt-5", _, _)), ("other-hash", .hashAlgorithmsDiffer(image: "ramdisk-1", _, _)),
                ("other-default", .defaultConfigurationDiffers), ("other-configuration", .configurationDiffers(configuration: "config-3", field: "fdt", _, _)):
                break
            default:
                Issue.record("\(name): \(mismatch)")
            }
        }
    }

    @Test func anITSDescribingADTBTheImageLacksIsRefused() throws {
        let missing = #expect(throws: ITSMismatchError.self) {
            try LocalBootImage(image: BootImageFixture.url("bad/without-board-dtb.itb").path, its: BootImageFixture.url("fit-16g/multi.its").path)
        }
        #expect(missing == .imageMissingFromFIT(image: "fdt-1"))
    }

    @Test func missingFilesAreNamed() throws {
        let image = try BootImageFixture.url(BootImageFixture.fit16GB).path
        let noImage = #expect(throws: LocalBootImageError.self) { try LocalBootImage(image: "/nonexistent/emmcboot.itb", its: nil) }
        #expect(noImage?.description.contains("/nonexistent/emmcboot.itb") == true)
        let noITS = #expect(throws: LocalBootImageError.self) { try LocalBootImage(image: image, its: "/nonexistent/multi.its") }
        #expect(noITS?.description.contains("/nonexistent/multi.its") == true)
    }

    // MARK: Where the files go

    /// `--output` naming the input's own directory is refused, however it is spelled, and nothing is written.
    @Test func theInputsDirectoryIsNotAnOutput() throws {
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The fixture directory itself, and copies whose names are not emmcboot.itb / multi.its.
        let fixture = try Fixture(board: "16g")
        let copies = scratch.appendingPathComponent("copies")
        try FileManager.default.createDirectory(at: copies, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture.image, to: copies.appendingPathComponent("board.itb"))
        try FileManager.default.copyItem(at: fixture.its, to: copies.appendingPathComponent("board.its"))
        try FileManager.default.createSymbolicLink(at: scratch.appendingPathComponent("link"), withDestinationURL: copies)
        let cases: [(image: URL, its: URL?, output: String)] = [
            (fixture.image, fixture.its, fixture.image.deletingLastPathComponent().path),
            (fixture.image, nil, fixture.image.deletingLastPathComponent().path + "/./"),
            (copies.appendingPathComponent("board.itb"), copies.appendingPathComponent("board.its"), copies.path),
            (copies.appendingPathComponent("board.itb"), nil, scratch.appendingPathComponent("link").path),
        ]
        for (image, its, output) in cases {
            let before = try directoryDigests(URL(fileURLWithPath: output))
            let error = #expect(throws: LocalBootImageError.self, "\(output)") {
                try LocalBootImage(image: image.path, its: its?.path).fix(
                    dtb: BootImageFixture.evb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 7168, vpuMiB: 0, vppMiB: 2048))),
                    minimumLinuxMiB: 0, outputDirectory: output, dryRun: false)
            }
            guard case .outputIsInput? = error else { continue }
            #expect(try directoryDigests(URL(fileURLWithPath: output)) == before, "nothing written to \(output)")
        }
    }

    @Test func aDryRunWritesNothing() throws {
        let fixture = try Fixture(board: "16g")
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("out")
        let result = try LocalBootImage(image: fixture.image.path, its: fixture.its.path).fix(
            dtb: fixture.dtb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 7168, vpuMiB: 0, vppMiB: 2048))),
            minimumLinuxMiB: 0, outputDirectory: output.path, dryRun: true)
        #expect(result.status == .planned)
        #expect(result.outputImage == nil && result.outputITS == nil)
        #expect(!result.plan.isNoChange)
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// Without an .its only the image is written; the Linux minimum of a board profile is enforced.
    @Test func withoutAnITSOnlyTheImageIsWritten() throws {
        let fixture = try Fixture(board: "12g")
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let local = try LocalBootImage(image: fixture.image.path, its: nil)
        let result = try local.fix(
            dtb: fixture.dtb + ".dtb", sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 3519, vpuMiB: 512, vppMiB: 512))),
            minimumLinuxMiB: 0, outputDirectory: scratch.path, dryRun: false)
        #expect(result.outputITS == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["emmcboot.itb"])
        let error = #expect(throws: MemoryPlanError.self) {
            try local.fix(
                dtb: fixture.dtb, sizing: .explicit(Self.sizes(HeapRequest(npuMiB: 3519, vpuMiB: 3071, vppMiB: 4096))),
                minimumLinuxMiB: 2048, outputDirectory: nil, dryRun: true)
        }
        guard case .linuxBelowMinimum(let left, 2048)? = error, left < 2048 else {
            Issue.record("expected linuxBelowMinimum, got \(String(describing: error))")
            return
        }
    }

    // MARK: Helpers

    static func sizes(_ request: HeapRequest) -> HeapSizes {
        HeapSizes(npu: .mebibytes(request.npuMiB), vpu: .mebibytes(request.vpuMiB), vpp: .mebibytes(request.vppMiB))
    }

    /// The 16 GB fixture with the board's `edits` made by `fdtput`, rebuilt by `mkimage -f multi.its` in `scratch`.
    static func ramoopsMovedImage(in scratch: URL, edits: [MemoryEditOracle.Edit]) throws -> Fixture {
        var fixture = try Fixture(board: "16g")
        let work = scratch.appendingPathComponent("work")
        try FileManager.default.copyItem(at: fixture.work, to: work)
        let dtb = work.appendingPathComponent(fixture.dtb + ".dtb").path
        for edit in edits {
            let words = edit.reg.flatMap { [$0.range.start >> 32, $0.range.start & 0xFFFF_FFFF, $0.range.size >> 32, $0.range.size & 0xFFFF_FFFF] }
            _ = try Tool.output("fdtput", ["-t", "x", dtb, edit.path, "reg"] + words.map { String($0, radix: 16) })
        }
        let image = work.appendingPathComponent("emmcboot.itb")
        let result = try Tool.run("/bin/sh", ["-c", "cd '\(work.path)' && mkimage -f multi.its emmcboot.itb >/dev/null"])
        guard result.status == 0 else { throw ToolFailure(command: "mkimage -f multi.its", status: result.status, stderr: result.stderr) }
        fixture.image = image
        fixture.its = work.appendingPathComponent("multi.its")
        return fixture
    }
}

/// An input image's `dumpimage -l` listing and every image's bytes as `dumpimage -T flat_dt -p N` extracts them,
/// read once per file and test process.
private struct ExtractedImages: Sendable {
    var listing: DumpImageListing
    var data: [String: Data]

    private static let fixtures = Mutex<[String: ExtractedImages]>([:])

    static func of(_ image: URL) throws -> ExtractedImages {
        if let known = fixtures.withLock({ $0[image.path] }) { return known }
        let scratch = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let listing = try DumpImageListing(file: image)
        var data: [String: Data] = [:]
        for entry in listing.images {
            let file = scratch.appendingPathComponent(entry.name)
            try extract(entry.index, of: image, to: file)
            data[entry.name] = try Data(contentsOf: file)
        }
        let extracted = ExtractedImages(listing: listing, data: data)
        fixtures.withLock { $0[image.path] = extracted }
        return extracted
    }
}

/// The digest U-Boot records for `algo` (`sha1`, `sha256`, `crc32`), computed by coreutils and gzip.
private func digest(_ algo: String, of file: URL) throws -> String? {
    switch algo {
    case "sha1": return String(try Tool.output("sha1sum", [file.path]).prefix(40))
    case "sha256": return try sha256(file)
    case "crc32":  // gzip's trailer holds the crc32 of its input, little-endian
        let text = try Tool.output("/bin/sh", ["-c", "gzip -c < \"$1\" | tail -c 8 | od -An -tx4 -N4", "sh", file.path])
        return text.trimmingCharacters(in: .whitespaces)
    default: return nil
    }
}

private func extract(_ index: Int, of image: URL, to file: URL) throws {
    _ = try Tool.output("dumpimage", ["-T", "flat_dt", "-p", "\(index)", "-o", file.path, image.path])
}

/// `sha256sum`'s digest of a file.
private func sha256(_ file: URL) throws -> String {
    String(try Tool.output("sha256sum", [file.path]).prefix(64))
}

/// The sha256 of every file in a directory (following a symlinked directory), by name.
private func directoryDigests(_ directory: URL) throws -> [String: String] {
    let resolved = directory.resolvingSymlinksInPath()
    var digests: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: resolved.path) {
        let file = resolved.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            digests[name] = try sha256(file)
        }
    }
    return digests
}
