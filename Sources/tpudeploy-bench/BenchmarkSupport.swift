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
