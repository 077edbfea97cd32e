import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// The distribution half of the fleet benchmark: one big payload to 16 simulated boards, every board's link and
/// the host's own link shaped to the same rate, by tpudeploy's relay distribution and by the tools a site would
/// use instead (parallel-scp, Ansible's `copy`), with one board's `scp` as the yardstick. Each tool's copies
/// are checked by their sha256 on every board, then removed before the next tool. The boards are always
/// stopped, whatever fails.
func benchmarkFleetDistribution(tpudeploy: String, ansibleVenv: URL?, boards count: Int, payloadBytes: Int, rateMbit: Int,
                                scratch: URL) async throws -> FleetBenchmarkResult.Distribution {
    let directory = scratch.appendingPathComponent("distribution")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let payload = directory.appendingPathComponent("payload.bin").path
    let destination = "/data/bench/payload.bin"
    let simulator = Simulator(stateDirectory: directory.appendingPathComponent("sim"))
    var options = SimulatorOptions()
    options.boards = count
    options.bootDelay = 0
    options.kernelKiB = 1024
    options.ramdiskKiB = 512
    options.dataPartitionMiB = payloadBytes / (1 << 20) + 256
    BenchCleanup.shared.boardsStarted(in: simulator.stateDirectory)
    defer {
        try? simulator.down(names: nil)
        BenchCleanup.shared.boardsStopped(in: simulator.stateDirectory)
        try? FileManager.default.removeItem(atPath: payload)
    }
    try runProcess("/bin/sh", ["-c", "head -c \(payloadBytes) /dev/urandom > \"$1\"", "sh", payload])
    let expected = try LocalFileHash.sha256(payload)
    let boards = try simulator.up(options)
    let first = boards[0]
    let sshOptions = ["-i", first.identityFile, "-o", "UserKnownHostsFile=\(first.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
                      "-o", "BatchMode=yes", "-F", "/dev/null"]
    try onBoards(boards, "mkdir -p /data/bench /data/.ansible-tmp", sshOptions: sshOptions, directory: directory)
    for board in boards { try simulator.shapeLink(of: board.name, rateMbit: rateMbit) }
    try simulator.shapeHostLink(rateMbit: rateMbit)
    let linkBytesPerSecond = Double(rateMbit) * 1e6 / 8
    let bound = Double(count * payloadBytes) / linkBytesPerSecond
    let deadline = Int(2 * bound) + 120

    /// Runs one tool, then checks (untimed) which boards of `targets` hold the payload, and empties them. A tool
    /// that fails is recorded with why, and the next one still runs.
    func transfer(_ tool: String, command: String, targets: [SimulatedBoard], yardstick: Double?,
                  _ arguments: [String], environment: [String: String]? = nil) -> FleetBenchmarkResult.Transfer {
        do {
            return try measure(tool, command: command, targets: targets, yardstick: yardstick, arguments, environment: environment)
        } catch {
            _ = try? onBoards(targets, "rm -f \(destination)", sshOptions: sshOptions, directory: directory)
            return .init(tool: tool, command: command, notMeasured: "not measured: it failed: \(error)")
        }
    }
    func measure(_ tool: String, command: String, targets: [SimulatedBoard], yardstick: Double?,
                 _ arguments: [String], environment: [String: String]?) throws -> FleetBenchmarkResult.Transfer {
        let sentBefore = try simulator.hostSentBytes()
        let run = try meteredRun(arguments, environment: environment, directory: directory, deadlineSeconds: deadline,
                                 log: directory.appendingPathComponent("\(tool.split(separator: " ")[0]).log"))
        let sent = try simulator.hostSentBytes() - sentBefore
        guard run.exitStatus == 0 else {
            throw BenchmarkError(description: "\(tool) exited \(run.exitStatus)\(run.timedOut ? " (stopped at its \(deadline) s deadline)" : ""): \(run.output.suffix(2000))")
        }
        let hashes = try onBoards(targets, "sha256sum \(destination) | cut -c1-64; rm -f \(destination)", sshOptions: sshOptions, directory: directory)
        let verified = hashes.filter { $0.trimmingCharacters(in: .whitespacesAndNewlines) == expected }.count
        guard verified == targets.count else {
            throw BenchmarkError(description: "\(tool): \(verified) of \(targets.count) boards hold the payload; see \(directory.path)")
        }
        return .init(tool: tool, command: command, seconds: run.seconds, hostBytesSent: sent, boardsVerified: verified,
                     ratioToOneBoard: yardstick.map { run.seconds / $0 }, hostBytesPerPayload: Double(sent) / Double(payloadBytes))
    }

    let oneBoard = transfer("scp (one board)", command: "scp payload.bin root@board1:\(destination)", targets: [first], yardstick: nil,
                                ["/usr/bin/scp", "-q"] + sshOptions + [payload, "root@\(first.host):\(destination)"])
    let yardstick = oneBoard.seconds

    var transfers: [FleetBenchmarkResult.Transfer] = []
    let relayCommand = "PayloadDistributor.distribute (the library call fleet rollout is to make; boards relay to each other)"
    do {
        let relay = try await measureRelayDistribution(tpudeploy: tpudeploy, simulator: simulator, boards: boards, payload: payload,
                                                       directory: (destination as NSString).deletingLastPathComponent, scratch: directory)
        let hashes = try onBoards(boards, "sha256sum \(destination) | cut -c1-64; rm -f \(destination)", sshOptions: sshOptions, directory: directory)
        let verified = hashes.filter { $0.trimmingCharacters(in: .whitespacesAndNewlines) == expected }.count
        var measured = FleetBenchmarkResult.Transfer(
            tool: "tpudeploy relay distribution", command: relayCommand, seconds: relay.seconds, hostBytesSent: relay.hostBytesOnTheBridge,
            boardsVerified: verified, ratioToOneBoard: yardstick.map { relay.seconds / $0 },
            hostBytesPerPayload: Double(relay.hostBytesOnTheBridge) / Double(payloadBytes))
        measured.reportedHostFileBytes = relay.reportedHostFileBytes
        measured.boardsTheHostSentTo = relay.boardsTheHostSentTo
        measured.notes = relay.agentInstall + "; wall time from connecting to the boards to the last board's verified rename"
        if verified != boards.count { measured.notes! += "; only \(verified) of \(boards.count) boards hold the payload's sha256" }
        transfers.append(measured)
    } catch {
        _ = try? onBoards(boards, "rm -f \(destination)", sshOptions: sshOptions, directory: directory)
        transfers.append(.init(tool: "tpudeploy relay distribution", command: relayCommand, notMeasured: "not measured: it failed: \(error)"))
    }
    let hosts = directory.appendingPathComponent("pssh-hosts")
    try boards.map { "\($0.host):\($0.port) root\n" }.joined().write(to: hosts, atomically: true, encoding: .utf8)
    transfers.append(transfer(
        "parallel-scp", command: "parallel-scp -h hosts -p \(count) -t 0 payload.bin \(destination)", targets: boards, yardstick: yardstick,
        ["/usr/bin/parallel-scp", "-h", hosts.path, "-p", String(count), "-t", "0", "-x", sshOptions.joined(separator: " "), payload, destination]))

    if let ansibleVenv {
        let inventory = directory.appendingPathComponent("boards.ini")
        try (["[sim]"] + boards.map { "\($0.name) ansible_host=\($0.host) ansible_port=\($0.port)" }).joined(separator: "\n")
            .appending("\n").write(to: inventory, atomically: true, encoding: .utf8)
        let ansible = AnsibleBaseline(venv: ansibleVenv, inventory: inventory, identityFile: first.identityFile,
                                      knownHostsFile: first.knownHostsFile, scratch: directory.appendingPathComponent("ansible"))
        defer { ansible.closeControlMasters() }
        // Ansible's temporary files on /data, so that its final move is a rename, as for the other tools.
        transfers.append(transfer(
            "ansible copy", command: "ansible all -i boards.ini -m copy -a 'src=payload.bin dest=\(destination)' -f \(count)",
            targets: boards, yardstick: yardstick,
            [ansible.ansible, "all"] + ansible.connectionArguments + ["-m", "copy", "-a", "src=\(payload) dest=\(destination)", "-f", String(count)],
            environment: ansible.environment(pipelining: false, remoteTemp: "/data/.ansible-tmp")))
    } else {
        transfers.append(.init(tool: "ansible copy", command: "ansible all -m copy", notMeasured: "not measured: ansible-core is not installed in build/venv (make bench installs it)"))
    }
    for index in transfers.indices where transfers[index].seconds != nil && transfers[index].tool.hasPrefix("tpudeploy") {
        transfers[index].wallGoalMet = transfers[index].ratioToOneBoard.map { $0 <= 1.5 } ?? false
        transfers[index].hostBytesGoalMet = transfers[index].hostBytesPerPayload.map { $0 <= 1.1 } ?? false
    }
    try simulator.shapeHostLink(rateMbit: nil)
    return .init(
        boards: count, payloadBytes: UInt64(payloadBytes), rateMbit: rateMbit,
        shaping: "tc tbf on both ends of every board's veth pair (Simulator.shapeLink) and on the host's bridge, where the host's own packets leave (Simulator.shapeHostLink): \(rateMbit) Mbit/s each; board-to-board frames are forwarded by the bridge and pass only the boards' own links, as on a switch",
        oneBoard: oneBoard, fromOneSourceBoundSeconds: bound, transfers: transfers)
}

/// Runs `command` on every board at once with OpenSSH; returns each board's stdout, in the boards' order.
@discardableResult
func onBoards(_ boards: [SimulatedBoard], _ command: String, sshOptions: [String], directory: URL) throws -> [String] {
    var running: [(Process, URL)] = []
    for (index, board) in boards.enumerated() {
        let output = directory.appendingPathComponent("on-board-\(index).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
        process.arguments = sshOptions + ["-p", String(board.port), "root@\(board.host)", command]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = FileHandle.nullDevice
        try process.run()
        try handle.close()
        running.append((process, output))
    }
    return try running.map { process, output in
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchmarkError(description: "`\(command)` failed on a board (\(process.arguments?.dropLast().last ?? "")): exit \(process.terminationStatus)")
        }
        return (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    }
}
