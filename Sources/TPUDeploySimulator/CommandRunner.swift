import Foundation

/// Runs the host tools the simulator is made of (`ip`, `ssh-keygen`, `mount`, the boot-image recipe) and
/// turns a failure into a `SimulatorError` that carries the tool's own message.
struct CommandRunner: Sendable {
    /// The output of a finished command.
    struct Output: Sendable {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Directories searched for tools, whatever `PATH` the caller has (root's tools live in sbin).
    static let searchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The full path of `tool`, or nil when it is not installed.
    static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        return searchPath.lazy.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `tool` and returns its output whatever its exit status.
    static func capture(_ tool: String, _ arguments: [String], input: Data? = nil) throws -> Output {
        guard let executable = locate(tool) else { throw SimulatorError.missingTool(tool) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // The simulated runtime's and the engine's settings are the board's own: a board started from a process
        // that happens to hold TPU_SIM_* or TPU_ENGINE_* (a test of the runtime, a user's shell) must not inherit them.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TPU_SIM_") && !$0.key.hasPrefix("TPU_ENGINE_") }
        environment["PATH"] = searchPath.joined(separator: ":")
        environment["LC_ALL"] = "C"
        process.environment = environment
        // stderr goes to a file so that a chatty tool can never block on a full pipe while we read stdout.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("tpdsim-stderr-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else {
            throw SimulatorError.stateFile(path: errorFile.path, problem: "cannot create a temporary file")
        }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let errorHandle = try FileHandle(forWritingTo: errorFile)
        defer { try? errorHandle.close() }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errorHandle
        let inputPipe = input.map { _ in Pipe() }
        process.standardInput = inputPipe ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw SimulatorError.commandFailed(command: ([executable] + arguments).joined(separator: " "), message: "\(error)")
        }
        if let input, let inputPipe {
            inputPipe.fileHandleForWriting.write(input)
            try? inputPipe.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorText = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        return Output(status: process.terminationStatus, standardOutput: String(decoding: data, as: UTF8.self), standardError: errorText)
    }

    /// Runs `tool` and returns its standard output; a non-zero exit throws with the tool's stderr.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], input: Data? = nil) throws -> String {
        let output = try capture(tool, arguments, input: input)
        guard output.status == 0 else {
            let message = output.standardError.isEmpty ? output.standardOutput : output.standardError
            throw SimulatorError.commandFailed(
                command: ([tool] + arguments).joined(separator: " "),
                message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output.standardOutput
    }

    /// Whether `tool` exits 0.
    static func succeeds(_ tool: String, _ arguments: [String]) -> Bool {
        (try? capture(tool, arguments).status) == 0
    }
}
