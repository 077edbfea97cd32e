import Foundation
import TPUDeployKit
import TPUDeploySimulator

/// Starts simulated boards for one test in a private state directory and always stops them.
struct SimulatedBoardHarness {
    static var isRoot: Bool { getuid() == 0 }

    let simulator: Simulator
    let stateDirectory: URL

    init() throws {
        stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        simulator = Simulator(stateDirectory: stateDirectory)
    }

    /// Runs `body` with freshly started boards, then stops them and removes the state, even when `body` throws.
    static func withBoards<T>(
        ram: SimulatedRAM = .gb16, dtb: String = "bm1684x_evb_v0.0", count: Int = 1,
        _ body: (SimulatedBoardHarness, [SimulatedBoard]) async throws -> T
    ) async throws -> T {
        let harness = try SimulatedBoardHarness()
        var options = SimulatorOptions()
        options.boards = count
        options.ram = ram
        options.dtbName = dtb
        options.bootDelay = 0
        options.kernelKiB = 1024
        options.ramdiskKiB = 512
        do {
            let boards = try harness.simulator.up(options)
            let result = try await body(harness, boards)
            try harness.tearDown()
            return result
        } catch {
            try? harness.tearDown()
            throw error
        }
    }

    func tearDown() throws {
        try simulator.down(names: nil)
        try? FileManager.default.removeItem(at: stateDirectory)
    }

    /// The SSH target a user would get from `sim up`: root with the simulator's key and known_hosts.
    static func rootTarget(_ board: SimulatedBoard, connectTimeout: Int = 10) -> SSHTarget {
        SSHTarget(host: board.host, port: board.port, user: "root", identityFile: board.identityFile,
                  knownHostsFile: board.knownHostsFile, sshConfigFile: "none", connectTimeout: connectTimeout)
    }

    /// The stall limit of the link-fault tests: seconds, where the default is two minutes.
    static let shortStallSeconds = 4

    /// Root on the board with the link-fault tests' short stall limit.
    static func rootTargetWithShortStall(_ board: SimulatedBoard) -> SSHTarget {
        var target = rootTarget(board)
        target.stallTimeout = shortStallSeconds
        return target
    }

    /// Runs a command on the board with OpenSSH's own client: an independent view of the board.
    static func openSSH(_ board: SimulatedBoard, _ command: String) throws -> String {
        try run("/usr/bin/ssh", [
            "-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-F", "/dev/null", "-p", String(board.port), "root@\(board.host)", command,
        ])
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], directory: URL? = nil, environment: [String: String]? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw HarnessError.commandFailed("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
        }
        return text
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case commandFailed(String)
    var description: String {
        switch self { case .commandFailed(let text): return text }
    }
}
