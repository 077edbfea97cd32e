import Foundation
import TPUDeployKit
import TPUDeploySimulator

// Benchmarks for the speed goals, measured on simulated boards against real baselines in the same run.
// Usage: tpudeploy-bench [--output FILE] [--runs N]

struct BenchmarkResult: Codable {
    var name: String
    var goal: String
    var runs: Int
    var medianSeconds: Double
    var minSeconds: Double
    var maxSeconds: Double
    var baselineName: String?
    var baselineMedianSeconds: Double?
    var notes: String
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func runProcess(_ executable: String, _ arguments: [String], input: String? = nil) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let pipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : pipe
    try process.run()
    if let input {
        pipe.fileHandleForWriting.write(Data(input.utf8))
        try pipe.fileHandleForWriting.close()
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(domain: "bench", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "\(executable) failed"])
    }
}

var output = "bench-results/inspect.json"
var runs = 15
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--output": output = arguments.next() ?? output
    case "--runs": runs = Int(arguments.next() ?? "") ?? runs
    default:
        FileHandle.standardError.write(Data("usage: tpudeploy-bench [--output FILE] [--runs N]\n".utf8))
        exit(2)
    }
}

let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-bench-\(getpid())")
let simulator = Simulator(stateDirectory: stateDirectory)
var options = SimulatorOptions()
options.bootDelay = 0
do {
    let board = try simulator.up(options)[0]
    defer { try? simulator.down(names: nil) }
    let target = SSHTarget(host: board.host, port: board.port, user: "root", identityFile: board.identityFile,
                           knownHostsFile: board.knownHostsFile, sshConfigFile: "none")
    let inspector = BoardInspector()

    func inspectOnce() async throws {
        let session = try await SSHSession.connect(to: target)
        _ = try await inspector.inspect(session)
        await session.close()
    }
    try await inspectOnce()  // warm caches on both sides
    var ours: [Double] = []
    for _ in 0..<runs { ours.append(try await timed { try await inspectOnce() }) }

    // Baseline: OpenSSH's client running the same probe script over one connection.
    let script = BoardProbe.script()
    let sshArguments = ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "BatchMode=yes",
                        "-F", "/dev/null", "root@\(board.host)", "sh", "-s"]
    var baseline: [Double] = []
    for _ in 0..<runs { baseline.append(try await timed { try runProcess("/usr/bin/ssh", sshArguments, input: script) }) }

    let result = BenchmarkResult(
        name: "inspect (connect, probe, read layout from a \(options.kernelKiB + options.ramdiskKiB) KiB-payload emmcboot.itb, disconnect)",
        goal: "median under 0.5 s end to end",
        runs: runs, medianSeconds: median(ours), minSeconds: ours.min() ?? 0, maxSeconds: ours.max() ?? 0,
        baselineName: "OpenSSH ssh running the same probe script (no boot image read)",
        baselineMedianSeconds: median(baseline),
        notes: "simulated EVB over a veth pair; library call, not counting process start of the CLI")
    let directory = URL(fileURLWithPath: output).deletingLastPathComponent()
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try JSONOutput.text([result]).write(toFile: output, atomically: true, encoding: .utf8)
    print(String(format: "inspect: median %.3f s (min %.3f, max %.3f) over %d runs; OpenSSH ssh, same probe: median %.3f s; goal < 0.5 s",
                 result.medianSeconds, result.minSeconds, result.maxSeconds, runs, median(baseline))
          + (result.medianSeconds < 0.5 ? " → met" : " → NOT met"))
    print("results written to \(output)")
} catch {
    try? simulator.down(names: nil)
    FileHandle.standardError.write(Data("tpudeploy-bench: \(error)\n".utf8))
    exit(1)
}
