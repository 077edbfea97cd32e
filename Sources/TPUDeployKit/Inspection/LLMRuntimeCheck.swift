/// Whether a board's SoC image is new enough for sophgo/LLM-TPU's bmodels, and what to do when it is not.
///
/// The minimums are the ones LLM-TPU states: `docs/Quick_Start.md` ("Version check", SoC): a kernel built on
/// 2024-01-10 or later (`uname -v`), else re-flash the SDK's SoC image; `docs/FAQ.md` Q11 ("get function send
/// api error": driver 0.4.8 or 0.4.9 too old), Q13 ("set the driver to 0.5.1 or above, and update libsophon")
/// and Q14 (libsophon and driver released after 2024-06-30, i.e. 0.5.1).
public struct LLMRuntimeCheck: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable {
        /// Every version is known and new enough.
        case met
        /// At least one version is older than LLM-TPU needs.
        case outdated
        /// Nothing is too old, but not every version could be read.
        case unknown
    }

    public var verdict: Verdict
    public var minimumLibsophon: String
    public var minimumDriver: String
    public var minimumKernelBuildDate: String
    /// One entry per version found too old, e.g. "driver 0.4.9 (needs 0.5.1 or newer)".
    public var outdated: [String]

    public static let minimumLibsophonRelease = "0.5.1"
    public static let minimumDriverRelease = "0.5.1"
    public static let minimumKernelBuild = KernelBuildDate(year: 2024, month: 1, day: 10)

    public init(_ versions: SoftwareVersions) {
        minimumLibsophon = Self.minimumLibsophonRelease
        minimumDriver = Self.minimumDriverRelease
        minimumKernelBuildDate = Self.minimumKernelBuild.iso
        var outdated: [String] = []
        var unknown = false
        func check(_ name: String, _ found: String?, minimum: String) {
            guard let found, let release = ReleaseNumber(found), let needed = ReleaseNumber(minimum) else { unknown = true; return }
            if release < needed { outdated.append("\(name) \(found) (needs \(minimum) or newer)") }
        }
        check("libsophon", versions.libsophon, minimum: minimumLibsophon)
        check("driver", versions.driver, minimum: minimumDriver)
        if let text = versions.kernelBuildDate, let built = KernelBuildDate(iso: text) {
            if built < Self.minimumKernelBuild { outdated.append("kernel built \(built.iso) (needs \(minimumKernelBuildDate) or later)") }
        } else {
            unknown = true
        }
        self.outdated = outdated
        verdict = !outdated.isEmpty ? .outdated : (unknown ? .unknown : .met)
    }

    /// The warning for an outdated image: what was found, what is needed, and what to do; nil otherwise.
    public var warning: String? {
        guard verdict == .outdated else { return nil }
        return "this board's SoC image is older than sophgo/LLM-TPU's bmodels need: \(outdated.joined(separator: ", ")). "
            + "LLM-TPU bmodels can fail on it (e.g. \"get function send api error\"). Upgrade the SoC image: flash the "
            + "SDK's SoC image of 2024 or later (SDK 24.04.01 carries libsophon and driver 0.5.1), as LLM-TPU "
            + "docs/Quick_Start.md (\"Version check\") and docs/FAQ.md (Q11) describe"
    }
}
