import Foundation
import TPUDeploySimulator

/// Memory the kernel reports available (MemAvailable of /proc/meminfo), in bytes.
func availableMemoryBytes() -> Int64 {
    let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }
    return Int64(line?.split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0) * 1024
}

func processCount() -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }.count
}

/// The control half of the fleet benchmark: `tpudeploy sim up --boards 64 --inventory FILE`, then
/// `tpudeploy fleet inspect --parallel 64` against `ansible all -m setup -f 64` on the same boards, then the
/// rollout of boards already at the target. The boards are always stopped, whatever fails.
func benchmarkFleetControl(tpudeploy: String, ansible: AnsibleBaseline?, boards: Int, runs: Int, scratch: URL) throws -> FleetBenchmarkResult.Control {
    let directory = scratch.appendingPathComponent("control")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let state = directory.appendingPathComponent("sim")
    let inventory = directory.appendingPathComponent("boards.ini")
    BenchCleanup.shared.boardsStarted(in: state)
    defer {
        try? Simulator(stateDirectory: state).down(names: nil)
        BenchCleanup.shared.boardsStopped(in: state)
    }

    // Starting the boards is itself a measurement: whether 64 fit this machine.
    let memoryBefore = availableMemoryBytes(), processesBefore = processCount()
    let up = try meteredRun([tpudeploy, "sim", "up", "--boards", String(boards), "--boot-delay", "0", "--inventory", inventory.path,
                             "--state-dir", state.path], directory: directory, deadlineSeconds: 900,
                            log: directory.appendingPathComponent("sim-up.log"))
    guard up.exitStatus == 0 else { throw BenchmarkError(description: "sim up --boards \(boards) failed: \(up.output.suffix(2000))") }
    let taken = memoryBefore - availableMemoryBytes(), added = processCount() - processesBefore
    let pidMax = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    let defaults = SimulatorOptions(), imageMiB = (defaults.kernelKiB + defaults.ramdiskKiB) / 1024
    let fit = FleetBenchmarkResult.Fit(
        boards: boards, simUpSeconds: up.seconds, memoryTakenBytes: taken, memoryPerBoardBytes: taken / Int64(boards),
        processesAdded: added, processesPerBoard: Double(added) / Double(boards), pidMax: pidMax, bootImageMebibytes: imageMiB,
        verdict: String(format: "%d boards fit: they took about %.1f GiB of %.1f GiB and %d processes of pid_max %d (each board: its init, sshd, a /boot tmpfs holding a %d MiB boot image)",
                        boards, Double(taken) / Double(1 << 30), Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30), added, pidMax, imageMiB))

    // tpudeploy fleet inspect, the CLI as a user runs it (process start included), JSON lines to a file.
    var inspectRuns: [FleetBenchmarkResult.Run] = []
    for run in 0..<runs {
        let result = try meteredRun([tpudeploy, "fleet", "inspect", "--inventory", inventory.path, "--parallel", String(boards), "--json"],
                                    directory: directory, deadlineSeconds: 300, interval: 0.05,
                                    log: directory.appendingPathComponent("inspect-\(run).jsonl"))
        inspectRuns.append(.init(result, boardsOK: FleetSummaryLine(result.output).count("ok")))
    }
    let inspect = FleetBenchmarkResult.Tool(tool: "tpudeploy fleet inspect",
                                            command: "tpudeploy fleet inspect --inventory boards.ini --parallel \(boards) --json",
                                            runs: inspectRuns, boardsInFlight: boards)

    // Ansible's fact gathering on the same inventory with the same parallelism: defaults, then with pipelining.
    let ansibleTools: [FleetBenchmarkResult.Tool]
    if let ansible {
        ansibleTools = try ansible.variants(tool: "ansible setup", command: "ansible all -i boards.ini -m setup -f \(boards)", boards: boards,
                                            runs: max(1, runs - 1), passed: AnsibleBaseline.succeededHosts) { pipelining, run in
            try ansible.adHoc(module: "setup", forks: boards, pipelining: pipelining, deadlineSeconds: 600,
                              log: directory.appendingPathComponent("ansible-setup-\(pipelining)-\(run).log"))
        }
    } else {
        ansibleTools = [.init(tool: "ansible setup", command: "ansible all -i boards.ini -m setup -f \(boards)", notMeasured: AnsibleBaseline.notInstalled)]
    }

    let rollout = benchmarkRolloutAtTarget(tpudeploy: tpudeploy, ansible: ansible, inventory: inventory, simulator: Simulator(stateDirectory: state),
                                           boards: boards, runs: runs, directory: directory)

    // A run where some board did not answer stays in the results (boards_ok says so), but no goal is met on it.
    let ours = inspect.medianSeconds, theirs = ansibleTools.first?.medianSeconds
    let everyBoardAnswered = inspectRuns.allSatisfy { $0.boardsOK == boards }
        && ansibleTools.allSatisfy { $0.notMeasured != nil || $0.runs.allSatisfy { $0.boardsOK == boards } }
    let speedup = ours.flatMap { ours in theirs.map { $0 / ours } }
    return .init(
        boards: boards, parallelism: boards, fit: fit, everyBoardAnswered: everyBoardAnswered, inspect: inspect,
        ansibleSetup: ansibleTools, speedupOverAnsible: speedup, goalMet: speedup.map { $0 > 1 && everyBoardAnswered },
        rollout: rollout,
        notes: "Every tool is a process started as a user starts it (tpudeploy's time includes its start, reading the inventory and tpudeploy.yaml). Boards' links are not shaped here. Ansible: ansible-core's defaults (ssh with ControlMaster, fresh control sockets each run, closed after it), /usr/bin/python3 given as the interpreter so no run pays for discovery; `setup` gathers all facts, more than tpudeploy's probe (board, dtb, RAM, heaps, deployed model, engine), which is what a user of Ansible gets. host_memory_per_board_bytes: the peak of the process tree's summed Pss over the runs, divided by the boards in flight (peak_process_rss_per_board_bytes: the largest single process's VmHWM, so for tpudeploy its peak RSS, shared libraries included), sampled every 0.05 s for tpudeploy and 0.25 s for Ansible.")
}
