import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// `inspect` end to end against a simulated EVB, and OpenSSH's `ssh` running the same probe script.
func benchmarkInspect(runs: Int, scratch: URL) async throws -> BenchmarkResult {
    let simulator = Simulator(stateDirectory: scratch.appendingPathComponent("sim"))
    var options = SimulatorOptions()
    options.bootDelay = 0
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

    let script = BoardProbe.script()
    let sshArguments = ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "BatchMode=yes",
                        "-F", "/dev/null", "root@\(board.host)", "sh", "-s"]
    var baseline: [Double] = []
    for _ in 0..<runs { baseline.append(try await timed { try runProcess("/usr/bin/ssh", sshArguments, input: script) }) }
    return BenchmarkResult(
        name: "inspect: connect, probe, read the layout from a \(options.kernelKiB + options.ramdiskKiB) KiB-payload emmcboot.itb, disconnect",
        goal: "median under 0.5 s end to end", seconds: ours,
        baselineName: "OpenSSH ssh running the same probe script (reads no boot image)", baselineSeconds: baseline,
        goalMet: { ourMedian, _ in ourMedian < 0.5 },
        notes: "simulated EVB over a veth pair; library call (the CLI adds its process start)")
}
