import Foundation

/// Files the simulator ships: the boot-image recipe and dts sources (`boot/`), and the board's own tools
/// and init (`board/`).
public enum SimulatorResources {
    /// The copied `Resources` folder. Foundation on Linux already reports the bundle's `Resources` folder as its
    /// `resourceURL` when the bundle has one, Darwin does not: accept both layouts.
    private static var resourcesDirectory: URL {
        let candidates = [Bundle.module.resourceURL, Bundle.module.resourceURL?.appendingPathComponent("Resources"),
                          Bundle.module.bundleURL.appendingPathComponent("Resources")].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("boot/build-boot-image.sh").path) }
            ?? Bundle.module.bundleURL.appendingPathComponent("Resources")
    }

    /// The directory holding `boot/build-boot-image.sh` and the dts sources it compiles.
    public static var bootImageRecipeDirectory: URL {
        resourcesDirectory.appendingPathComponent("boot")
    }

    /// The script that builds a BM1684X-style emmcboot.itb and multi.its.
    public static var bootImageBuilder: URL {
        bootImageRecipeDirectory.appendingPathComponent("build-boot-image.sh")
    }

    /// The vendor board dtbs a simulated board can boot (`boot/boards/NAME.dtsi`, each with its factory layout),
    /// by file name without `.dtb`, sorted.
    public static var vendorBoardDTBs: [String] {
        let directory = bootImageRecipeDirectory.appendingPathComponent("boards").path
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".dtsi") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The board's init, boot check, `bm-smi` and `reboot`; throws when the resource bundle is incomplete.
    static func boardToolsDirectory() throws -> URL {
        let directory = resourcesDirectory.appendingPathComponent("board")
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("board-init.sh").path) else {
            throw SimulatorError.stateFile(path: directory.path, problem: "the simulator's board tools are missing from its resource bundle; rebuild tpudeploy")
        }
        return directory
    }

    /// The simulated libsophon runtime (`libTPUSimRuntime.so`, built beside tpudeploy by `swift build`), which each
    /// board gets as its `libbmlib.so` and `libbmrt.so`: `$TPUDEPLOY_SIM_RUNTIME`, else beside the running
    /// executable or test bundle; nil when it was not built.
    public static func simulatedRuntimeLibrary() -> URL? {
        let fileName = "libTPUSimRuntime.so"
        if let path = ProcessInfo.processInfo.environment["TPUDEPLOY_SIM_RUNTIME"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let folders = [Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent(),
                       URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        return folders.compactMap { $0?.appendingPathComponent(fileName) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }
}
