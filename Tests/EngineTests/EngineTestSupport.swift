import Foundation

/// Where the engine tests find what `make sim-models` and `swift build` produced.
enum EngineTestSupport {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products folder: the test bundle sits in it beside `tpu-llm-engine` and `libTPUSimRuntime.so`.
    static let productsDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    static var engineExecutable: URL { productsDirectory.appendingPathComponent("tpu-llm-engine") }
    static var simRuntimeLibrary: URL { productsDirectory.appendingPathComponent("libTPUSimRuntime.so") }

    /// `make sim-models` output (override: TPUDEPLOY_SIM_MODELS).
    static var simModelsDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["TPUDEPLOY_SIM_MODELS"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.appendingPathComponent("build/sim-models")
    }

    /// The Python of `make venv` (numpy, sentencepiece, tokenizers).
    static var python: URL { repositoryRoot.appendingPathComponent("build/venv/bin/python") }

    struct MissingPrerequisite: Error, CustomStringConvertible {
        let description: String
    }

    /// A sim model's folder; fails (never skips) with the command that makes it when absent.
    static func simModel(_ name: String) throws -> URL {
        let directory = simModelsDirectory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(name).bmodel").path) else {
            throw MissingPrerequisite(description: "no sim model \(name) in \(simModelsDirectory.path): run `make sim-models`")
        }
        return directory
    }

    /// The folder holding the simulated runtime under libsophon's two library names. It depends only on where
    /// the library is, so one build's tests share one folder, made once: a fresh folder per call left thousands
    /// behind in /tmp. It is this user's own directory (checked), since /tmp is shared.
    static func simRuntimeDirectory() throws -> URL {
        let library = simRuntimeLibrary
        let key = library.path.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tpu-sim-runtime-\(geteuid())-\(String(key, radix: 16))")
        if try isOwnRuntimeDirectory(directory, library: library) { return directory }
        let staging = directory.deletingLastPathComponent().appendingPathComponent(".\(directory.lastPathComponent)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        for name in ["libbmlib.so", "libbmrt.so"] {
            try FileManager.default.createSymbolicLink(at: staging.appendingPathComponent(name), withDestinationURL: library)
        }
        // Another test may have made it meanwhile: then its folder is used and ours removed.
        if rename(staging.path, directory.path) != 0 { try? FileManager.default.removeItem(at: staging) }
        guard try isOwnRuntimeDirectory(directory, library: library) else {
            throw MissingPrerequisite(description: "\(directory.path) is not this user's simulated-runtime folder: remove it")
        }
        return directory
    }

    private static func isOwnRuntimeDirectory(_ directory: URL, library: URL) throws -> Bool {
        var info = stat()
        guard lstat(directory.path, &info) == 0 else { return false }
        guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid() else {
            throw MissingPrerequisite(description: "\(directory.path) is not this user's directory: remove it")
        }
        return ["libbmlib.so", "libbmrt.so"].allSatisfy {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory.appendingPathComponent($0).path)) == library.path
        }
    }

    struct ProcessOutcome {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    /// The environment of a child process: this process's, less the simulated runtime's TPU_SIM_* variables, then
    /// `extra`. The in-process runtime suites set TPU_SIM_* with setenv while they run; a child started meanwhile
    /// by a test running beside them would inherit their heaps and state directory, and both would count each
    /// other's device memory (seen as a spurious BM_ERR_NOMEM).
    static func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TPU_SIM_") }.merging(extra) { $1 }
    }

    /// Runs a program to completion, capturing both streams.
    static func run(_ executable: URL, _ arguments: [String], environment extra: [String: String] = [:],
                    input: Data? = nil) async throws -> ProcessOutcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = childEnvironment(extra)
        let output = Pipe(), error = Pipe(), standardInput = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = standardInput
        try process.run()
        if let input { standardInput.fileHandleForWriting.write(input) }
        try standardInput.fileHandleForWriting.close()
        // Read both pipes concurrently so neither can fill up and stall the child.
        let errorReader = Task.detached { error.fileHandleForReading.readDataToEndOfFile() }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorData = await errorReader.value
        return ProcessOutcome(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}
