import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// `push` of a 1 GiB payload to a simulated board whose link is shaped to 1 Gbit/s and 100 Mbit/s, against
/// OpenSSH `scp` and `rsync` over ssh sending the same file to the same board in the same run; then a re-push
/// of the unchanged payload, and a push that resumes after its connection was cut at 50 %.
struct PushBenchmarkResult: Encodable {
    /// One transfer of the payload by one tool.
    struct Run: Encodable {
        var tool: String
        /// 1-based position within its round (the order alternates between rounds).
        var position: Int
        var seconds: Double
        var megabytesPerSecond: Double
    }
    /// Where a push's end-to-end time went, from the library's own events.
    struct PushPhases: Encodable {
        /// Connect and log in, inspect the board, probe the remote directory.
        var connectInspectProbeSeconds: Double
        var localHashSeconds: Double
        /// First byte sent to last write acknowledged.
        var transferSeconds: Double
        /// The board's `sha256sum` of the temporary file, rename, manifest.
        var boardVerifySeconds: Double
        var totalSeconds: Double
    }
    /// What hashing the just-written file costs on the board (page-cache hot), by two tools.
    struct BoardHash: Encodable {
        var sha256sumSeconds: Double
        var opensslSeconds: Double?
    }
    struct Rate: Encodable {
        var rateMbit: Int
        var linkMegabytesPerSecond: Double
        var rounds: Int
        var runs: [Run]
        var pushPhases: [PushPhases]
        /// Medians, MB/s (10^6 bytes per second) of payload.
        var pushMegabytesPerSecond: Double
        var pushTransferOnlyMegabytesPerSecond: Double
        var scpMegabytesPerSecond: Double
        var rsyncMegabytesPerSecond: Double
        var bestBaseline: String
        var ratioToBestBaseline: Double
        var transferOnlyRatioToBestBaseline: Double
        var percentOfLinkRate: Double
        var transferOnlyPercentOfLinkRate: Double
        var baselineGoalMet: Bool
        var linkRateGoalMet: Bool
        var boardHash: BoardHash
        var rePushSeconds: [Double]
        var rePushPhases: [PushPhases]
        var rePushMedianSeconds: Double
        var rePushGoalMet: Bool
    }
    struct Resume: Encodable {
        var rateMbit: Int
        var fileBytes: UInt64
        /// Size of the temporary file on the board after the cut.
        var boardHadBytes: UInt64
        var resumedFromBytes: UInt64
        var sentByResumingPushBytes: UInt64
        /// Bytes the board already had that were sent again: `boardHadBytes - resumedFromBytes`.
        var resentBytes: UInt64
        var resentPercentOfFile: Double
        var resumingPushSeconds: Double
        var goalMet: Bool
    }

    var name = "push of a 1 GiB random payload to a simulated board over a tc-shaped link, against scp and rsync"
    var goals = [
        "throughput": "push end to end (connect, hashes, transfer, board's hash check and rename) at least 0.95x the best of scp and rsync, and at least 90 % of the link rate",
        "re_push": "re-push of the unchanged payload under 1 s end to end",
        "resume": "after a drop at 50 %, under 5 % of the file re-sent beyond what the board had",
    ]
    var payloadBytes: UInt64
    var tuning: String
    var rates: [Rate]
    var resume: Resume
    var allGoalsMet: Bool
    var benchmarkSeconds: Double
    var notes: String
}

/// Timestamps of the events of one push.
private final class PushClock: @unchecked Sendable {
    private let lock = NSLock()
    private let start = DispatchTime.now().uptimeNanoseconds
    private var marks: [String: Double] = [:]

    func mark(_ name: String, once: Bool = true) {
        let now = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.lock()
        defer { lock.unlock() }
        if !once || marks[name] == nil { marks[name] = now }
    }

    func time(_ name: String) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        return marks[name]
    }

    func record(_ event: PushEvent) {
        switch event {
        case .step(let text) where text.hasPrefix("hashing"): mark("hashing")
        case .fileStarted(_, _, _, let skipped):
            mark("hashed")
            if !skipped { mark("sending") }
        case .verifying: mark("verifying")
        case .fileDone: mark("done", once: false)
        default: break
        }
    }

    func phases(total: Double) -> PushBenchmarkResult.PushPhases {
        // A push with nothing to send has no transfer and no check on the board: what follows the hashing is
        // writing nothing and closing, counted with the hashing's end.
        let hashing = time("hashing") ?? 0, hashed = time("hashed") ?? hashing
        let sending = time("sending") ?? total, verifying = time("verifying") ?? total
        return .init(connectInspectProbeSeconds: hashing, localHashSeconds: hashed - hashing, transferSeconds: verifying - sending,
                     boardVerifySeconds: total - verifying, totalSeconds: total)
    }
}

/// Fills a file with `bytes` pseudo-random bytes (splitmix64: incompressible, fast to make).
private func writeRandomFile(_ path: String, bytes: Int) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else { throw BenchmarkError(description: "cannot create \(path)") }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var state = UInt64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds)
    let chunk = 4 << 20
    var words = [UInt64](repeating: 0, count: chunk / 8)
    for _ in 0..<(bytes / chunk) {
        for index in words.indices {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[index] = z ^ (z >> 31)
        }
        try words.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
    }
}

func benchmarkPush(runs: Int, scratch: URL) async throws -> (result: any Encodable, summary: String) {
    let benchmarkStart = DispatchTime.now().uptimeNanoseconds
    let payloadBytes = 1 << 30
    let payload = scratch.appendingPathComponent("payload.bin").path
    let remoteRoot = "/data/pushbench"
    let simulator = Simulator(stateDirectory: scratch.appendingPathComponent("sim"))
    var options = SimulatorOptions()
    options.bootDelay = 0
    options.kernelKiB = 1024
    options.ramdiskKiB = 512
    options.dataPartitionMiB = 3072
    defer {
        try? simulator.down(names: nil)
        try? FileManager.default.removeItem(atPath: payload)
    }
    for tool in ["/usr/bin/scp", "/usr/bin/rsync", "/usr/bin/ssh"] where !FileManager.default.isExecutableFile(atPath: tool) {
        throw BenchmarkError(description: "\(tool) is missing: apt-get install openssh-client rsync")
    }
    try writeRandomFile(payload, bytes: payloadBytes)
    let board = try simulator.up(options)[0]
    let target = SSHTarget(host: board.host, port: board.port, user: "root", identityFile: board.identityFile,
                           knownHostsFile: board.knownHostsFile, sshConfigFile: "none")
    let sshOptions = ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
                      "-o", "BatchMode=yes", "-F", "/dev/null"]
    @discardableResult
    func onBoard(_ command: String) throws -> String {
        try runProcess("/usr/bin/ssh", sshOptions + ["root@\(board.host)", command])
    }
    /// Empties the baselines' directories, and the push's when `push` (its file is kept for the re-push).
    func freshDirectories(push: Bool = true) throws {
        let push = push ? " \(remoteRoot)/push" : ""
        try onBoard("rm -rf \(remoteRoot)/scp \(remoteRoot)/rsync\(push) && mkdir -p \(remoteRoot)/scp \(remoteRoot)/rsync")
    }
    let localSHA = try LocalFileHash.sha256(payload)
    let tuning = DeploymentPusher(profiles: nil, passwordProvider: nil, events: nil).tuning
    let request = PushRequest(bmodel: nil, tokenizer: nil, engine: .none, support: [payload], remoteDir: "\(remoteRoot)/push")

    /// One push end to end, from connecting to closing; returns its result and where the time went.
    /// `cache`: the local hash cache `tpudeploy push` keeps; nil for a first push, which hashes everything.
    func push(_ events: PushEvents? = nil, cache: LocalHashCache? = nil) async throws -> (PushResult, PushBenchmarkResult.PushPhases) {
        let clock = PushClock()
        var pusher = DeploymentPusher(profiles: nil, passwordProvider: nil, events: { event in
            clock.record(event)
            events?(event)
        })
        pusher.hashCache = cache
        var result: PushResult?
        let seconds = try await timed {
            let session = try await SSHSession.connect(to: target)
            do {
                result = try await pusher.push(request, session: session)
            } catch {
                await session.close()
                throw error
            }
            await session.close()
        }
        return (result!, clock.phases(total: seconds))
    }
    func megabytesPerSecond(_ seconds: Double) -> Double { Double(payloadBytes) / seconds / 1e6 }

    var rates: [PushBenchmarkResult.Rate] = []
    for rateMbit in [1000, 100] {
        try simulator.shapeLink(of: board.name, rateMbit: rateMbit)
        let rounds = rateMbit >= 1000 ? max(2, min(runs, 3)) : 1
        var measured: [PushBenchmarkResult.Run] = []
        var phases: [PushBenchmarkResult.PushPhases] = []
        for round in 0..<rounds {
            let order = round % 2 == 0 ? ["push", "scp", "rsync"] : ["rsync", "scp", "push"]
            for (position, tool) in order.enumerated() {
                try freshDirectories(push: tool == "push")
                let seconds: Double
                switch tool {
                case "push":
                    let (result, phase) = try await push()
                    guard result.status == .pushed, result.bytesSent == UInt64(payloadBytes) else {
                        throw BenchmarkError(description: "push sent \(result.bytesSent) bytes (\(result.status.rawValue)), not the whole payload")
                    }
                    seconds = phase.totalSeconds
                    phases.append(phase)
                case "scp":
                    seconds = try await timed { try runProcess("/usr/bin/scp", ["-q"] + sshOptions + [payload, "root@\(board.host):\(remoteRoot)/scp/payload.bin"]) }
                default:
                    let shell = (["/usr/bin/ssh"] + sshOptions).joined(separator: " ")
                    seconds = try await timed { try runProcess("/usr/bin/rsync", ["-e", shell, payload, "root@\(board.host):\(remoteRoot)/rsync/payload.bin"]) }
                }
                let remote = tool == "push" ? "\(remoteRoot)/push/payload.bin" : "\(remoteRoot)/\(tool)/payload.bin"
                let size = try onBoard("stat -c %s \(remote)").trimmingCharacters(in: .whitespacesAndNewlines)
                guard size == String(payloadBytes) else { throw BenchmarkError(description: "\(tool) left \(size) bytes in \(remote)") }
                measured.append(.init(tool: tool, position: position + 1, seconds: seconds, megabytesPerSecond: megabytesPerSecond(seconds)))
            }
        }
        // The last push's file stays in place for the re-push; make sure it is there.
        let state = try onBoard("test -f \(remoteRoot)/push/payload.bin && echo yes || echo no")
        if !state.hasPrefix("yes") {
            try freshDirectories()
            _ = try await push()
        }
        let boardSHA = try onBoard("sha256sum \(remoteRoot)/push/payload.bin | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        guard boardSHA == localSHA else { throw BenchmarkError(description: "the board's copy hashes to \(boardSHA), not \(localSHA)") }
        // The board's check, page-cache hot as right after an upload: coreutils (what push runs) and OpenSSL.
        func boardSeconds(_ command: String) throws -> Double? {
            let text = try onBoard("s=$(date +%s.%N); \(command) >/dev/null 2>&1 || exit 0; e=$(date +%s.%N); echo \"$s $e\"")
            let fields = text.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
            return fields.count == 2 ? fields[1] - fields[0] : nil
        }
        let boardHash = PushBenchmarkResult.BoardHash(
            sha256sumSeconds: try boardSeconds("sha256sum < \(remoteRoot)/push/payload.bin") ?? 0,
            opensslSeconds: try boardSeconds("openssl dgst -sha256 < \(remoteRoot)/push/payload.bin"))
        // Re-push as a user's second `tpudeploy push` runs it: with the hash cache the first push filled (here
        // one untimed re-push fills it).
        let cache = LocalHashCache(file: scratch.appendingPathComponent("hash-cache-\(rateMbit).json"))
        _ = try await push(cache: cache)
        var rePush: [Double] = []
        var rePushPhases: [PushBenchmarkResult.PushPhases] = []
        for _ in 0..<3 {
            let (result, phase) = try await push(cache: cache)
            guard result.status == .upToDate, result.bytesSent == 0 else {
                throw BenchmarkError(description: "the re-push sent \(result.bytesSent) bytes (\(result.status.rawValue))")
            }
            rePush.append(phase.totalSeconds)
            rePushPhases.append(phase)
        }

        func medianRate(_ tool: String) -> Double { median(measured.filter { $0.tool == tool }.map(\.megabytesPerSecond)) }
        let pushRate = medianRate("push"), scpRate = medianRate("scp"), rsyncRate = medianRate("rsync")
        let transferRate = median(phases.map { megabytesPerSecond($0.transferSeconds) })
        let best = scpRate >= rsyncRate ? ("scp", scpRate) : ("rsync", rsyncRate)
        let link = Double(rateMbit) / 8
        rates.append(.init(
            rateMbit: rateMbit, linkMegabytesPerSecond: link, rounds: rounds, runs: measured, pushPhases: phases,
            pushMegabytesPerSecond: pushRate, pushTransferOnlyMegabytesPerSecond: transferRate,
            scpMegabytesPerSecond: scpRate, rsyncMegabytesPerSecond: rsyncRate, bestBaseline: best.0,
            ratioToBestBaseline: pushRate / best.1, transferOnlyRatioToBestBaseline: transferRate / best.1,
            percentOfLinkRate: 100 * pushRate / link, transferOnlyPercentOfLinkRate: 100 * transferRate / link,
            baselineGoalMet: pushRate >= 0.95 * best.1, linkRateGoalMet: pushRate >= 0.9 * link, boardHash: boardHash,
            rePushSeconds: rePush, rePushPhases: rePushPhases, rePushMedianSeconds: median(rePush), rePushGoalMet: median(rePush) < 1))
    }

    // Resume: cut every connection once half the file is acknowledged, then push again.
    let resumeRate = 1000
    try simulator.shapeLink(of: board.name, rateMbit: resumeRate)
    try freshDirectories()
    let cut = FireOnce()
    let boardName = board.name
    var finished = false
    do {
        _ = try await push { event in
            if case .progress(_, let done, let size, _, _) = event, done * 2 >= size, cut.first() {
                _ = try? simulator.dropConnections(of: boardName)
            }
        }
        finished = true
    } catch {
        // Expected: the connection was lost; the board keeps what it acknowledged.
    }
    if finished { throw BenchmarkError(description: "the push finished although its connection was cut at 50 %") }
    let had = UInt64(try onBoard("stat -c %s \(remoteRoot)/push/payload.bin.partial").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    let (resumed, resumePhases) = try await push()
    guard resumed.status == .pushed, let file = resumed.files.first, file.action == .resumed else {
        throw BenchmarkError(description: "the second push did not resume: \(resumed.files.first?.action.rawValue ?? "no file")")
    }
    let resent = had > file.resumedFromBytes ? had - file.resumedFromBytes : 0
    let resentPercent = 100 * Double(resent) / Double(payloadBytes)
    let resume = PushBenchmarkResult.Resume(
        rateMbit: resumeRate, fileBytes: UInt64(payloadBytes), boardHadBytes: had, resumedFromBytes: file.resumedFromBytes,
        sentByResumingPushBytes: file.bytesSent, resentBytes: resent, resentPercentOfFile: resentPercent,
        resumingPushSeconds: resumePhases.totalSeconds, goalMet: resentPercent < 5)
    try simulator.shapeLink(of: board.name, rateMbit: nil)

    let total = Double(DispatchTime.now().uptimeNanoseconds - benchmarkStart) / 1e9
    let allMet = rates.allSatisfy { $0.baselineGoalMet && $0.linkRateGoalMet && $0.rePushGoalMet } && resume.goalMet
    let result = PushBenchmarkResult(
        payloadBytes: UInt64(payloadBytes), tuning: "\(tuning.requestBytes / 1024) KiB writes, \(tuning.requestsInFlight) in flight",
        rates: rates, resume: resume, allGoalsMet: allMet, benchmarkSeconds: total,
        notes: "one simulated board; both ends of its veth pair shaped with tc tbf (Simulator.shapeLink); the board's /data is a tmpfs, so its sync is free and its reads are from memory. scp is OpenSSH 9.2's (SFTP protocol), rsync runs over the same ssh options. Each round alternates the order of the tools; the remote directories are emptied before every transfer. MB/s are 10^6 bytes of payload per second. Push end to end includes connecting, inspecting the board, hashing the payload locally (no hash cache: a first push; the hash is taken from the chunks the upload reads, so local_hash_seconds is ~0 and its cost is inside the transfer) and the board's hash (taken by a follower while the file arrives, OpenSSL where the board has it, else sha256sum), checked before the rename; re-push uses the local hash cache as tpudeploy push does; transfer-only is first byte to last acknowledgement. The host's 2 cores are shared with other work, so expect noise.")

    func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }
    var lines = [String(format: "push: 1 GiB over a tc-shaped link (took %.0f s)", total)]
    for rate in rates {
        lines.append(String(format: "  %d Mbit/s: push %.1f MB/s end to end (transfer only %.1f), scp %.1f, rsync %.1f → %.2fx the best (%@; goal ≥ 0.95 → %@), %.0f%% of the link (transfer only %.0f%%; goal ≥ 90%% → %@); board sha256sum %.2f s; re-push %.2f s (goal < 1 s → %@)",
                            rate.rateMbit, rate.pushMegabytesPerSecond, rate.pushTransferOnlyMegabytesPerSecond, rate.scpMegabytesPerSecond,
                            rate.rsyncMegabytesPerSecond, rate.ratioToBestBaseline, rate.bestBaseline, verdict(rate.baselineGoalMet),
                            rate.percentOfLinkRate, rate.transferOnlyPercentOfLinkRate, verdict(rate.linkRateGoalMet),
                            rate.boardHash.sha256sumSeconds, rate.rePushMedianSeconds, verdict(rate.rePushGoalMet)))
    }
    lines.append(String(format: "  resume after a cut at 50%%: %.3f%% of the file re-sent (%llu bytes; goal < 5%% → %@), resuming push %.1f s",
                        resume.resentPercentOfFile, resume.resentBytes, verdict(resume.goalMet), resume.resumingPushSeconds))
    return (result, lines.joined(separator: "\n"))
}
