import ArgumentParser
import Foundation
import TPUDeployKit

struct LayoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layout",
        abstract: "Look at the memory layouts inside local boot images.",
        subcommands: [Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every board dtb in an emmcboot.itb: DDR banks, reserved regions, heaps, Linux memory and the maxima.",
            discussion: "What Sophgo's memory_edit.sh -p prints, for every board dtb of the image at once. An image U-Boot would not boot (a kernel, ramdisk or dtb whose hash does not match, or a truncated file) is an error (exit 1) naming the damaged part, not a layout.\n\n  tpudeploy layout show --image emmcboot.itb --its multi.its"
        )

        @Option(name: .long, help: "The emmcboot.itb to read.")
        var image: String

        @Option(name: .long, help: "Its multi.its, checked against the image.")
        var its: String?

        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await reportingFailures(json: output.json) {
                let report = try LocalBootImage(image: image, its: its).layouts()
                if output.json {
                    try printJSON(report)
                    return
                }
                if report.signed { print("note: this FIT image is signed; tpudeploy will not modify it\n") }
                if report.dtbs.isEmpty { print("\(image) holds no dtb (no flat_dt image)") }
                let sections = report.dtbs.map { entry -> String in
                    var text = MemoryLayoutText.layout(entry.layout, limits: entry.limits, title: "\(entry.dtb) (\(entry.fdtImage))")
                    if let problem = entry.limitsError { text += "\nmax: unknown (\(problem))" }
                    return text
                }
                print(sections.joined(separator: "\n\n"))
            }
        }
    }
}
