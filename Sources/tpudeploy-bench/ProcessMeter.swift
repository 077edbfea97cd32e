import Foundation

/// One program run to its end with its wall time and the host memory it and every process it started held.
struct MeteredRun {
    var seconds: Double
    var exitStatus: Int32
    /// Whether the run was stopped at its deadline.
    var timedOut: Bool
    /// The largest peak resident set (VmHWM) of any one process of the tree: for a single-process tool, its peak RSS.
    var peakProcessRSSBytes: UInt64
    /// The largest sum of proportional set sizes (Pss) over the whole tree seen at one sample: what forks and
    /// their ssh clients held together, shared pages counted once.
    var peakTreePSSBytes: UInt64
    /// The most processes the tree had at one sample.
    var peakProcesses: Int
    /// What the program printed (stdout and stderr together).
    var output: String
}

/// Runs `arguments[0]` under GNU `timeout` (which makes it a process group and kills the whole group at the
/// deadline, forks included) with stdout and stderr in a file, sampling its process tree every `interval`.
/// Sampling reads /proc, which costs the 2 cores a little; 0.25 s keeps that under a few percent.
func meteredRun(_ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
                deadlineSeconds: Int, interval: Double = 0.25, log: URL) throws -> MeteredRun {
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let logHandle = try FileHandle(forWritingTo: log)
    defer { try? logHandle.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
    process.arguments = ["--kill-after=10", String(deadlineSeconds)] + arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let directory { process.currentDirectoryURL = directory }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = logHandle
    process.standardError = logHandle
    let start = DispatchTime.now().uptimeNanoseconds
    try process.run()
    BenchCleanup.shared.running(group: process.processIdentifier)
    defer { BenchCleanup.shared.running(group: nil) }
    var peakRSS: UInt64 = 0, peakPSS: UInt64 = 0, peakProcesses = 0
    while process.isRunning {
        let tree = processTree(root: process.processIdentifier).filter { $0 != process.processIdentifier }  // not timeout itself
        var pss: UInt64 = 0
        for pid in tree {
            pss += procKilobytes(pid, file: "smaps_rollup", field: "Pss:") * 1024
            peakRSS = max(peakRSS, procKilobytes(pid, file: "status", field: "VmHWM:") * 1024)
        }
        peakPSS = max(peakPSS, pss)
        peakProcesses = max(peakProcesses, tree.count)
        Thread.sleep(forTimeInterval: interval)
    }
    process.waitUntilExit()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return MeteredRun(seconds: seconds, exitStatus: process.terminationStatus, timedOut: process.terminationStatus == 124,
                      peakProcessRSSBytes: peakRSS, peakTreePSSBytes: peakPSS, peakProcesses: peakProcesses, output: output)
}

/// `root` and every process descended from it, from each process's parent in /proc/PID/stat.
func processTree(root: pid_t) -> [pid_t] {
    var children: [pid_t: [pid_t]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // After the command's ")": state, then the parent's pid.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
    }
    var tree: [pid_t] = [], queue = [root]
    while let pid = queue.popLast() {
        tree.append(pid)
        queue += children[pid] ?? []
    }
    return tree
}

/// A "Field:   123 kB" value of a /proc/PID file, in KiB; 0 when the process is gone or has no such field.
func procKilobytes(_ pid: pid_t, file: String, field: String) -> UInt64 {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return 0 }
    return line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0
}
