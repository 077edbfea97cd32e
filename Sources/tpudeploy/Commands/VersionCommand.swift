import ArgumentParser
import TPUDeployKit

struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "This tpudeploy's version, git commit, linked libssh/libfdt, engine builds, and where its resources are.",
        discussion: ResourceLocator.searchOrder
    )

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingFailures(json: output.json) {
            let report = VersionReport.current()
            if output.json {
                try printJSON(report)
                return
            }
            var lines = ["tpudeploy \(report.version)" + (report.commit.map { " (commit \(String($0.prefix(12))))" } ?? "")]
            lines.append("libssh \(report.libssh), libfdt \(report.libfdt ?? "unknown") (\(report.linkage))")
            for build in report.payloadBuilds {
                lines.append("engine \(build.architecture): \(build.engine) sha256 \(String(build.sha256.prefix(16)))… \(build.bytes) bytes"
                             + (build.simRuntime ? ", with sim-runtime" : ""))
            }
            if report.payloadBuilds.isEmpty { lines.append("engine: no board builds found (make cross builds them)") }
            for resource in report.resources {
                lines.append("\(resource.kind.folderName): " + (resource.path.map { "\($0) (\(resource.origin!.rawValue))" } ?? "not found"))
            }
            print(lines.joined(separator: "\n"))
        }
    }
}
