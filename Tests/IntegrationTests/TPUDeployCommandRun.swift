import Foundation
import Testing

/// What one run of the built `tpudeploy` executable gave.
struct CommandRunOutcome {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The JSON lines of stdout, each an object.
    func jsonLines() throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }
}

/// Runs the built `tpudeploy` in `directory` with no terminal on stdin, as CI and scripts do: the checkout's
/// Profiles, no TPUDEPLOY_PASSWORD from the caller, then `environment`.
func runTPUDeploy(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:]) throws -> CommandRunOutcome {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy")
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var environment = ProcessInfo.processInfo.environment
    environment["TPUDEPLOY_PROFILES"] = root.appendingPathComponent("Profiles").path
    environment.removeValue(forKey: "TPUDEPLOY_PASSWORD")
    for (key, value) in extra { environment[key] = value }
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // stderr is drained on a thread of its own while stdout is read here: read one after the other, a run that
    // fills the stderr pipe first would wait forever. A thread, not a Task: tests block the cooperative pool.
    let errors = DrainedBytes()
    Thread {
        errors.data = err.fileHandleForReading.readDataToEndOfFile()
        errors.done.signal()
    }.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    errors.done.wait()
    return CommandRunOutcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: errors.data, as: UTF8.self))
}

private final class DrainedBytes: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
