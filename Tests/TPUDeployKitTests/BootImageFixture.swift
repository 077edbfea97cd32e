import Foundation

/// The FIT images and dtbs under Tests/Fixtures/build, made by Tests/Fixtures/make-fixtures.sh, which this
/// helper runs (once per test process) when the directory is missing or older than the script or its recipe.
enum BootImageFixture {
    static let fixturesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repository = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let script = fixturesDirectory.appendingPathComponent("make-fixtures.sh")

    /// The board each image boots, and the dtbs every image carries (`fdt-1`…`fdt-5` in this order). The fixture
    /// family of build-boot-image.sh: `bm1684x_se7_v1_12g` and `bm1684x_airbox_v1` are fixture names, no vendor dtb's.
    static let evb = "bm1684x_evb_v0.0"
    static let se7With12GB = "bm1684x_se7_v1_12g"
    static let familyDTBs = [evb, "bm1684x_se7_v1", se7With12GB, "bm1684x_sm7m_v0.0", "bm1684x_airbox_v1"]

    private static let built: Result<URL, any Error> = Result { try buildIfStale() }

    /// Tests/Fixtures/build, built if needed.
    static func directory() throws -> URL { try built.get() }

    static func url(_ relativePath: String) throws -> URL {
        try directory().appendingPathComponent(relativePath)
    }

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(relativePath)))
    }

    /// `fit-16g/emmcboot.itb` (EVB, 16 GB) or `fit-12g/emmcboot.itb` (SE7 12G).
    static let fit16GB = "fit-16g/emmcboot.itb"
    static let fit12GB = "fit-12g/emmcboot.itb"
    /// `fit-vendor/emmcboot.itb`: every vendor board dtb of the simulator, each with its factory layout.
    static let fitVendor = "fit-vendor/emmcboot.itb"

    /// The dtb the recipe compiled, kept in `<image dir>/work/`.
    static func dtbPath(_ name: String, of image: String = fit16GB) -> String {
        (image as NSString).deletingLastPathComponent + "/work/\(name).dtb"
    }

    private static func buildIfStale() throws -> URL {
        let build = fixturesDirectory.appendingPathComponent("build")
        let stamp = build.appendingPathComponent("stamp")
        let boot = repository.appendingPathComponent("Sources/TPUDeploySimulator/Resources/boot")
        let boards = boot.appendingPathComponent("boards")
        let boardFiles = ((try? FileManager.default.contentsOfDirectory(atPath: boards.path)) ?? []).map {
            boards.appendingPathComponent($0)
        }
        let inputs = [script, boards] + boardFiles + ["build-boot-image.sh", "bm1684x_mm_12g.dtsi", "bm1684x_mm_16g.dtsi"].map {
            boot.appendingPathComponent($0)
        }
        if let built = modificationDate(stamp), inputs.allSatisfy({ (modificationDate($0) ?? .distantFuture) < built }) {
            return build
        }
        let result = try Tool.run("/bin/bash", [script.path, build.path])
        guard result.status == 0 else {
            throw ToolFailure(command: "make-fixtures.sh", status: result.status, stderr: result.stderr)
        }
        return build
    }

    private static func modificationDate(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }
}

/// Runs the independent tools (fdtget, dumpimage, dtc) the tests compare against.
enum Tool {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        let stdout = Pipe()
        let stderr = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: stderr) }
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
            stderr: (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
    }

    /// Runs a tool that must succeed and returns its standard output without the trailing newline.
    static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try run(executable, arguments)
        guard result.status == 0 else {
            throw ToolFailure(command: ([executable] + arguments).joined(separator: " "), status: result.status, stderr: result.stderr)
        }
        return result.stdout.hasSuffix("\n") ? String(result.stdout.dropLast()) : result.stdout
    }

    /// `fdtget -t x` words of a property, as numbers.
    static func fdtgetHex(_ file: URL, _ node: String, _ property: String) throws -> [UInt64] {
        try output("fdtget", ["-t", "x", file.path, node, property]).split(separator: " ").compactMap {
            UInt64($0, radix: 16)
        }
    }

    /// A scratch directory removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tpudeploy-dt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct ToolFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var stderr: String
    var description: String { "\(command) exited with \(status): \(stderr)" }
}
