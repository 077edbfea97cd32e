import Foundation

/// Where the engine for a board's architecture comes from: an explicit file, or the builds of this checkout —
/// the native build when the board runs the host's architecture (simulated boards), else
/// `Payloads/<arch>/tpu-llm-engine` made by `make cross`.
public enum EngineSource: Sendable, Equatable {
    /// Push no engine (model files only).
    case none
    case file(String)
    case builds(payloadsDirectory: String, nativeBuild: String?, hostArch: String)

    /// The engine file for `arch`; throws `engineMissing` naming what was searched.
    public func path(forArch arch: String, exists: (String) -> Bool = { FileManager.default.isReadableFile(atPath: $0) }) throws -> String? {
        switch self {
        case .none: return nil
        case .file(let path): return path
        case .builds(let payloads, let native, let hostArch):
            var searched: [String] = []
            if arch == hostArch, let native {
                if exists(native) { return native }
                searched.append(native)
            }
            let cross = payloads + "/" + arch + "/tpu-llm-engine"
            if exists(cross) { return cross }
            searched.append(cross)
            throw PushError.engineMissing(arch: arch, searched: searched)
        }
    }

    /// This machine's `uname -m`.
    public static var hostArch: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
