/// The Sophgo SoC software a simulated board runs: one libsophon release with the bmtpu driver of the same
/// release (the SoC build takes the driver's version from libsophon's own CMake project version) and the kernel
/// that shipped with it.
///
/// Releases and dates come from sophgo/libsophon's history (`CMakeLists.txt` `project(... VERSION x.y.z)`:
/// 0.4.8 in v23.05.01, 0.4.9 in Sep 2023, 0.5.0 in Nov 2023, 0.5.1 in Jul 2024). The kernel build strings are
/// what `uname -v` prints on such images; the 0.4.9 one is the example in sophgo/LLM-TPU `docs/Quick_Start.md`,
/// the 0.5.1 one carries the release date of LLM-TPU's 0.5.1 driver (20240717-103602).
public struct SimulatedSoCImage: Sendable, Codable, Equatable {
    /// libsophon's version: the `sophon-soc-libsophon` package and `/opt/sophon/libsophon-<version>`.
    public var libsophon: String
    /// The bmtpu driver's `MODULE_VERSION`, shown in `/sys/module/bmtpu/version`.
    public var driver: String
    /// `/proc/sys/kernel/version` (what `uname -v` prints on the real board).
    public var kernelBuild: String

    /// The releases `sim up --libsophon` offers.
    public static let releases: [SimulatedSoCImage] = [
        SimulatedSoCImage(libsophon: "0.4.8", driver: "0.4.8", kernelBuild: "#1 SMP Tue Jun 13 19:42:18 CST 2023"),
        SimulatedSoCImage(libsophon: "0.4.9", driver: "0.4.9", kernelBuild: "#2 SMP Sat Nov 18 10:07:36 HKT 2023"),
        SimulatedSoCImage(libsophon: "0.5.0", driver: "0.5.0", kernelBuild: "#1 SMP Fri Dec 1 15:21:40 CST 2023"),
        SimulatedSoCImage(libsophon: "0.5.1", driver: "0.5.1", kernelBuild: "#1 SMP Wed Jul 17 10:36:02 CST 2024"),
    ]

    /// The release a board gets unless asked otherwise: the 2023 image the vendor's LLM guides were written on.
    public static let defaultLibsophon = "0.4.9"

    /// The release whose libsophon is `version`, or nil when the simulator does not offer it.
    public static func release(libsophon version: String) -> SimulatedSoCImage? {
        releases.first { $0.libsophon == version }
    }
}
