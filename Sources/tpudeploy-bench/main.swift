import Foundation

// `make bench`: the speed goals, each measured against a real baseline in the same run; results are
// written as JSON to the output directory and summarised on stdout.
// usage: tpudeploy-bench [--output-dir DIR] [--runs N] [--only inspect|fix-memory|engine|smollm2|push|fleet]

var outputDirectory = "bench-results"
var runs = 15
var only: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--output-dir": outputDirectory = arguments.next() ?? outputDirectory
    case "--runs": runs = Int(arguments.next() ?? "") ?? runs
    case "--only": only = arguments.next()
    default:
        FileHandle.standardError.write(Data("usage: tpudeploy-bench [--output-dir DIR] [--runs N] [--only inspect|fix-memory|engine|smollm2|push|fleet]\n".utf8))
        exit(2)
    }
}

let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-bench-\(getpid())")
/// A benchmark gives what goes into its JSON file and the line printed on stdout.
typealias Benchmark = (Int, URL) async throws -> (result: any Encodable, summary: String)
func comparing(_ body: @escaping (Int, URL) async throws -> BenchmarkResult) -> Benchmark {
    { runs, scratch in
        let result = try await body(runs, scratch)
        return (result, report(result))
    }
}
let benchmarks: [(String, Benchmark)] = [
    ("inspect", comparing(benchmarkInspect)),
    ("fix-memory", comparing(benchmarkFixMemory)),
    ("engine", benchmarkEngine),
    ("smollm2", benchmarkSmolLM2),
    ("push", benchmarkPush),
    ("fleet", benchmarkFleet),
]
var failed = false
do {
    try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
    for (name, benchmark) in benchmarks where only == nil || only == name {
        let directory = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (result, summary) = try await benchmark(runs, directory)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let file = "\(outputDirectory)/\(name).json"
        try encoder.encode(result).write(to: URL(fileURLWithPath: file))
        print(summary)
        print("  → \(file)")
    }
} catch {
    FileHandle.standardError.write(Data("tpudeploy-bench: \(error)\n".utf8))
    failed = true
}
try? FileManager.default.removeItem(at: scratch)
exit(failed ? 1 : 0)
