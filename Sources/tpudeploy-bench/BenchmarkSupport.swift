import Foundation

/// One measured result, as written to bench-results/*.json.
struct BenchmarkResult: Codable {
    var name: String
    var goal: String
    var runs: Int
    var medianSeconds: Double
    var minSeconds: Double
    var maxSeconds: Double
    var baselineName: String
    var baselineMedianSeconds: Double
    var speedup: Double
    var goalMet: Bool
    var notes: String

    /// From the samples of both sides: medians, our spread, the speedup (baseline over ours) and the goal,
    /// judged by `goalMet(ourMedian, speedup)`.
    init(name: String, goal: String, seconds ours: [Double], baselineName: String, baselineSeconds baseline: [Double],
         goalMet: (_ ourMedian: Double, _ speedup: Double) -> Bool, notes: String) {
        self.name = name
        self.goal = goal
        runs = ours.count
        medianSeconds = median(ours)
        minSeconds = ours.min() ?? 0
        maxSeconds = ours.max() ?? 0
        self.baselineName = baselineName
        baselineMedianSeconds = median(baseline)
        speedup = baselineMedianSeconds / medianSeconds
        self.goalMet = goalMet(medianSeconds, speedup)
        self.notes = notes
    }
}

/// A measured quantity over several runs, as the engine benchmarks write it: median, spread and unit.
struct Figure: Encodable {
    var median: Double
    var min: Double
    var max: Double
    var unit: String

    init(_ values: [Double], unit: String) {
        median = tpudeploy_bench.median(values)
        min = values.min() ?? 0
        max = values.max() ?? 0
        self.unit = unit
    }
}

/// The release engine beside tpudeploy-bench and a runtime directory in `scratch` whose libbmlib.so and libbmrt.so
/// are the simulated runtime, after checking that they and `model` exist (`make` names the target that builds
/// the model).
func simulatedEngine(model: String, make target: String, scratch: URL) throws -> (engine: String, runtimeDirectory: String) {
    let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let engine = products.appendingPathComponent("tpu-llm-engine").path
    let runtimeLibrary = products.appendingPathComponent("libTPUSimRuntime.so").path
    for path in [engine, runtimeLibrary, model] where !FileManager.default.fileExists(atPath: path) {
        throw BenchmarkError(description: "\(path) is missing: run `swift build -c release` and `make \(target)`")
    }
    let runtime = scratch.appendingPathComponent("runtime")
    try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true)
    for name in ["libbmlib.so", "libbmrt.so"] {
        try FileManager.default.createSymbolicLink(atPath: runtime.appendingPathComponent(name).path, withDestinationPath: runtimeLibrary)
    }
    return (engine, runtime.path)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}

/// Runs a program to completion; throws with its output when it fails.
@discardableResult
func runProcess(_ executable: String, _ arguments: [String], input: String? = nil, directory: URL? = nil,
                environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let directory { process.currentDirectoryURL = directory }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let pipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : pipe
    try process.run()
    if let input {
        pipe.fileHandleForWriting.write(Data(input.utf8))
        try pipe.fileHandleForWriting.close()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw BenchmarkError(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
    }
    return text
}

func report(_ result: BenchmarkResult) -> String {
    String(format: "%@: median %.4f s (min %.4f, max %.4f, %d runs); %@: median %.4f s; %.1fx; goal: %@ → %@",
           result.name as NSString, result.medianSeconds, result.minSeconds, result.maxSeconds, result.runs,
           result.baselineName as NSString, result.baselineMedianSeconds, result.speedup, result.goal as NSString,
           (result.goalMet ? "met" : "NOT met") as NSString)
}
