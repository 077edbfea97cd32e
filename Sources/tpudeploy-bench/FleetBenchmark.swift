import Foundation

/// `make bench BENCH=fleet`: the control half (64 boards) then the distribution half (16 boards, 256 MiB at
/// 100 Mbit/s), one after the other so that neither disturbs the other's timing. ansible-core comes from the
/// venv (`make bench` installs it), parallel-scp from Debian's pssh.
func benchmarkFleet(runs: Int, scratch: URL) async throws -> (result: any Encodable, summary: String) {
    let start = DispatchTime.now().uptimeNanoseconds, loadAtStart = loadAverage()
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let tpudeploy = here.appendingPathComponent("tpudeploy").path
    guard FileManager.default.isExecutableFile(atPath: tpudeploy) else {
        throw BenchmarkError(description: "\(tpudeploy) is missing: build it (`swift build -c release`) beside tpudeploy-bench")
    }
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/parallel-scp") else {
        throw BenchmarkError(description: "parallel-scp is missing: apt-get install pssh (make setup does)")
    }
    let venv = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TPUDEPLOY_BENCH_VENV"] ?? "build/venv").standardizedFileURL
    // The issue's sizes; TPUDEPLOY_BENCH_FLEET_SIZES=control,distribution,MiB (say 4,2,16) tries the harness
    // quickly, and its results then say so in their sizes.
    let sizes = (ProcessInfo.processInfo.environment["TPUDEPLOY_BENCH_FLEET_SIZES"] ?? "64,16,256").split(separator: ",").compactMap { Int($0) }
    guard sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else { throw BenchmarkError(description: "TPUDEPLOY_BENCH_FLEET_SIZES must be control,distribution,MiB") }
    let controlBoards = sizes[0], distributionBoards = sizes[1], payloadBytes = sizes[2] << 20, rateMbit = 100
    let controlScratch = scratch.appendingPathComponent("ansible-control")
    var ansible: AnsibleBaseline? = AnsibleBaseline(
        venv: venv, inventory: scratch.appendingPathComponent("control/boards.ini"),
        identityFile: scratch.appendingPathComponent("control/sim/client/id_ed25519").path,
        knownHostsFile: scratch.appendingPathComponent("control/sim/known_hosts").path, scratch: controlScratch)
    if ansible?.isInstalled != true { ansible = nil }
    let version = ansible?.version ?? "not installed"
    let pssh = (try? runProcess("/usr/bin/dpkg-query", ["-W", "-f", "${Version}", "pssh"])) ?? "unknown"

    BenchCleanup.shared.install()
    let control = try benchmarkFleetControl(tpudeploy: tpudeploy, ansible: ansible, boards: controlBoards,
                                            runs: max(2, min(runs, 3)), scratch: scratch)
    let distribution = try await benchmarkFleetDistribution(tpudeploy: tpudeploy, ansibleVenv: ansible?.venv, boards: distributionBoards,
                                                      payloadBytes: payloadBytes, rateMbit: rateMbit, scratch: scratch)
    let result = FleetBenchmarkResult(
        machine: .init(cores: ProcessInfo.processInfo.activeProcessorCount, memoryBytes: ProcessInfo.processInfo.physicalMemory,
                       loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAverage()),
        tools: ["ansible": version, "pssh": pssh, "openssh": (try? runProcess("/usr/bin/ssh", ["-V"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"],
        control: control, distribution: distribution,
        benchmarkSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
        notes: "One run of `tpudeploy-bench --only fleet` on this machine; every board is simulated (sshd in its own network namespace on a host bridge). Numbers absent from a tool are not measured, with the reason in not_measured.")
    return (result, fleetSummary(result))
}

/// The 1-minute load average of /proc/loadavg (0 when unreadable).
func loadAverage() -> Double {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").first.flatMap { Double($0) } ?? 0
}

func fleetSummary(_ result: FleetBenchmarkResult) -> String {
    func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "not measured" }
    func mebibytes(_ value: UInt64?) -> String { value.map { String(format: "%.1f MiB", Double($0) / Double(1 << 20)) } ?? "-" }
    let control = result.control, distribution = result.distribution
    var lines = [String(format: "fleet (took %.0f s; load average %.1f at the start, %.1f at the end, on %d cores)", result.benchmarkSeconds,
                        result.machine.loadAverageAtStart, result.machine.loadAverageAtEnd, result.machine.cores)]
    if let fit = control.fit { lines.append("  \(fit.verdict)") }
    lines.append("  control, \(control.boards) boards, \(control.parallelism) at once: fleet inspect \(seconds(control.inspect.medianSeconds)), \(mebibytes(control.inspect.hostMemoryPerBoardBytes)) host memory per board (peak RSS \(mebibytes(control.inspect.peakProcessRSSPerBoardBytes)) per board)")
    for tool in control.ansibleSetup {
        lines.append("    \(tool.tool): \(seconds(tool.medianSeconds)), \(mebibytes(tool.hostMemoryPerBoardBytes)) per board\(tool.notMeasured.map { " — \($0)" } ?? "")")
    }
    if let speedup = control.speedupOverAnsible { lines.append(String(format: "    → %.1fx faster than Ansible's defaults", speedup)) }
    let rollout = control.rollout
    lines.append("  \(rollout.full.tool): \(rollout.full.notMeasured ?? seconds(rollout.full.medianSeconds))\(rollout.full.runs.first.map { ", \($0.boardsOK) of \(control.boards) boards ok" } ?? "")")
    lines += rollout.preparation.map { "    \($0.prefix(300))" }
    for tool in [rollout.atTarget] + rollout.ansibleCheck {
        lines.append("    \(tool.tool): \(tool.notMeasured ?? "\(seconds(tool.medianSeconds)), \(mebibytes(tool.hostMemoryPerBoardBytes)) per board")")
    }
    if let speedup = rollout.speedupOverAnsible { lines.append(String(format: "    → %.1fx faster than Ansible's check with its defaults", speedup)) }
    lines.append(String(format: "  distribution, %d boards, %.0f MiB, %d Mbit/s links and host link: one board's scp %@ (bound from one source %.0f s)",
                        distribution.boards, Double(distribution.payloadBytes) / Double(1 << 20), distribution.rateMbit,
                        seconds(distribution.oneBoard.seconds), distribution.fromOneSourceBoundSeconds))
    for transfer in distribution.transfers {
        if let reason = transfer.notMeasured { lines.append("    \(transfer.tool): \(reason)"); continue }
        lines.append(String(format: "    %@: %@ (%.1fx one board), host sent %.2fx the payload", transfer.tool, seconds(transfer.seconds),
                            transfer.ratioToOneBoard ?? 0, transfer.hostBytesPerPayload ?? 0))
    }
    return lines.joined(separator: "\n")
}
