import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// Plan + rewrite of a realistic emmcboot.itb against the vendor-style pipeline on the same input:
/// `dumpimage` (extract the dtb), `dtc` (decompile), edit the text, `dtc` (compile), `mkimage` (repack).
func benchmarkFixMemory(runs: Int, scratch: URL) async throws -> BenchmarkResult {
    let imageDirectory = scratch.appendingPathComponent("image")
    try runProcess(SimulatorResources.bootImageBuilder.path, ["--out", imageDirectory.path, "--board", "bm1684x_evb_v0.0", "--ram", "16g"])
    let imagePath = imageDirectory.appendingPathComponent("emmcboot.itb").path
    let outputPath = scratch.appendingPathComponent("ours.itb").path
    let sizing = LayoutSizing.explicit(HeapSizes(npu: .mebibytes(7168), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))

    // One buffer: the file is read with room to grow, edited where it lies and written from there.
    var ours: [Double] = []
    var phases: (read: [Double], edit: [Double], write: [Double]) = ([], [], [])
    var edited: [UInt8] = []
    for _ in 0..<runs {
        edited = []  // the previous run's image is freed before the clock starts, as a process exiting would
        var marks: [Double] = []
        ours.append(try await timed {
            marks.append(now())
            let image = try LocalFile.read(imagePath, spareCapacity: FITRewriter.roomToGrow)
            marks.append(now())
            let edit = try BootImageEdit(image: consume image, dtb: "bm1684x_evb_v0.0", sizing: sizing,
                                         minimumLinuxMiB: 2048, verifying: false)
            edited = edit.editedImage ?? []
            marks.append(now())
            try LocalFile.write(edited, to: outputPath)
            marks.append(now())
        })
        phases.read.append(marks[1] - marks[0])
        phases.edit.append(marks[2] - marks[1])
        phases.write.append(marks[3] - marks[2])
    }

    // What tpudeploy actually runs adds the safety checks: every other image's hashes, and a read-back.
    var verified: [Double] = []
    for _ in 0..<runs {
        verified.append(try await timed {
            let edit = try BootImageEdit(image: try LocalFile.read(imagePath), dtb: "bm1684x_evb_v0.0", sizing: sizing, minimumLinuxMiB: 2048)
            try LocalFile.write(edit.editedImage ?? [], to: outputPath)
        })
    }

    // The untouched images of our output must be byte-identical to the input's.
    let input = try FITImage(bytes: [UInt8](FileManager.default.contents(atPath: imagePath) ?? Data()))
    let output = try FITImage(bytes: edited)
    var identical = true
    for image in input.images where image.description != "bm1684x_evb_v0.0" {
        let before = try input.data(of: image)
        let after = try output.data(of: try output.image(named: image.name))
        identical = identical && before == after
    }
    _ = try runProcess("/usr/bin/dumpimage", ["-l", outputPath])

    // The vendor-style pipeline, in the recipe's work directory (where multi.its finds every input file).
    let work = imageDirectory.appendingPathComponent("work")
    let vendor = """
        set -e
        dumpimage -T flat_dt -p 2 -o bm1684x_evb_v0.0.dtb ../emmcboot.itb >/dev/null
        dtc -q -I dtb -O dts bm1684x_evb_v0.0.dtb > edit.dts
        sed -i 's/reg = <0x01 0x24100000 0x00 0xf6e00000>;/reg = <0x01 0x24100000 0x01 0xc0000000>;/' edit.dts
        dtc -q -I dts -O dtb -p 500 edit.dts > bm1684x_evb_v0.0.dtb
        mkimage -p 0x2000 -D "-q -I dts -O dtb -p 500" -f multi.its vendor.itb >/dev/null
        """
    var baseline: [Double] = []
    for _ in 0..<runs { baseline.append(try await timed { try runProcess("/bin/bash", ["-c", vendor], directory: work) }) }

    return BenchmarkResult(
        name: "fix-memory plan + rewrite of a \(edited.count / 1_048_576) MiB emmcboot.itb (read file, plan, edit dtb, rehash, write file)",
        goal: "at least 10x faster than the vendor-style pipeline, untouched images byte-identical", seconds: ours,
        baselineName: "dumpimage + dtc -O dts + sed + dtc -O dtb + mkimage", baselineSeconds: baseline,
        goalMet: { _, speedup in speedup >= 10 && identical },
        notes: "untouched images byte-identical: \(identical ? "yes" : "NO"); our output accepted by dumpimage -l; "
            + String(format: "our medians: read %.1f ms, edit %.1f ms, write + rename %.1f ms; ",
                     median(phases.read) * 1000, median(phases.edit) * 1000, median(phases.write) * 1000)
            + String(format: "with tpudeploy's safety checks (every image's hashes verified, new image read back) the median is %.4f s (%.1fx)",
                     median(verified), median(baseline) / median(verified)))
}

/// Seconds on the monotonic clock `timed` reads, to split a run into its phases.
private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
