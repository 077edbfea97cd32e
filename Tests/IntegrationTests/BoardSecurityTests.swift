import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// A hostile user against simulated boards (issue 12, security 1, 2 and 5): names and paths that would run
/// commands on the board, a login user who swaps the engine and waits for a reboot, a forged lock record.
@Suite("board security", .serialized, .hangGuard, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct BoardSecurityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// tpudeploy in `directory`, no terminal on stdin (as CI and scripts run it).
    func tpudeploy(_ arguments: [String], in directory: URL) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["TPUDEPLOY_PROFILES"] = Self.root.appendingPathComponent("Profiles").path
        environment["TPUDEPLOY_PAYLOADS"] = Self.root.appendingPathComponent("Payloads").path
        environment.removeValue(forKey: "TPUDEPLOY_PASSWORD")
        process.environment = environment
        let errorFile = directory.appendingPathComponent("stderr-\(UUID().uuidString.prefix(8))")
        FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let errors = try FileHandle(forWritingTo: errorFile)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errors.close()
        let stderr = try String(contentsOf: errorFile, encoding: .utf8)
        try? FileManager.default.removeItem(at: errorFile)
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: stderr)
    }

    /// A project directory whose tpudeploy.yaml names `board` (as root, like `sim up`) and a deployment.
    func project(_ board: SimulatedBoard, payload: PushPayload, remoteDir: String = "/data/tpudeploy/tiny", folder: String = "project") throws -> URL {
        let directory = payload.directory.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let target = TargetSettings(host: board.host, port: board.port, user: "root", identity: board.identityFile,
                                    knownHosts: board.knownHostsFile, sshConfig: "none")
        let deployment = DeploymentSettings(name: "tiny", bmodel: payload.bmodel, tokenizer: payload.tokenizer, remoteDir: remoteDir)
        try ProjectConfig(target: target, deployment: deployment, file: directory.appendingPathComponent("tpudeploy.yaml").path)
            .write(header: "board security test")
        return directory
    }

    /// Runs a command on the board as linaro with OpenSSH's own client (the simulator's key is linaro's too).
    static func asLinaro(_ board: SimulatedBoard, _ command: String) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
        process.arguments = ["-i", board.identityFile, "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
                             "-o", "BatchMode=yes", "-F", "/dev/null", "-p", String(board.port), "linaro@\(board.host)", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Polls `command` on the board (as root) until it prints something, for up to `seconds`.
    static func awaitOutput(_ board: SimulatedBoard, _ command: String, seconds: Double) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? SimulatedBoardHarness.openSSH(board, command), !text.isEmpty { return text }
            Thread.sleep(forTimeInterval: 0.3)
        }
        return ""
    }

    @Test func hostileNamesAndDirectoriesRunNothingOnTheBoard() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let directory = try project(board, payload: payload)
            // Each would leave a file named tpd-pwned-… in the board's (and this machine's) /tmp if it ran.
            let marker = "/tmp/tpd-pwned-\(UUID().uuidString.prefix(8))"
            let hostile = ["$(touch \(marker)-1)", "`touch \(marker)-2`", "x;touch \(marker)-3", "x' ; touch \(marker)-4 ; '",
                           "x\" ; touch \(marker)-5 ; \"", "x\ntouch \(marker)-6", "a b", "-rf", "模型$(touch \(marker)-7)"]
            let engineCommands: [[String]] = [["launch", "--timeout", "5"], ["stop"], ["status"], ["logs"], ["logs", "--json"], ["verify"],
                                              ["chat", "-p", "hi"]]
            // Every value through one command, by flag; the most dangerous values through every command. (The
            // flags are checked in one place for all engine commands; each process costs a third of a second.)
            let worst = Array(hostile.prefix(2)) + [hostile[5]]
            var planned: [(arguments: [String], directory: URL)] = []
            for value in hostile {
                planned.append((["logs", "--name=\(value)"], directory))
                planned.append((["logs", "--remote-dir=/data/tpudeploy/\(value)"], directory))
                planned.append((["push", "--dry-run", "--remote-dir=/data/tpudeploy/\(value)"], directory))
            }
            for value in worst + ["-rf"] {
                for command in engineCommands where command != ["logs"] {
                    planned.append((command + ["--name=\(value)"], directory))
                    planned.append((command + ["--remote-dir=/data/tpudeploy/\(value)"], directory))
                }
                // fix-memory's board scripts take no name or directory; its one free-form input is the model.
                planned.append((["fix-memory", "--dry-run", "--for-model=\(value)"], directory))
            }
            // Four at a time: each is a process, most end before they would connect.
            let plan = planned
            let results = OutcomeList(count: plan.count)
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                for index in stride(from: worker, to: plan.count, by: 4) {
                    results.set(index, Result { try tpudeploy(plan[index].arguments, in: plan[index].directory) })
                }
            }
            var runs = try zip(planned, results.all).map { ($0.arguments, try $1.get()) }
            // Real pushes last, one at a time: the plain directory's push makes a deployment the others would see.
            for value in worst + ["-rf"] {
                let arguments = ["push", "--remote-dir=/data/tpudeploy/\(value)"]
                runs.append((arguments, try tpudeploy(arguments, in: directory)))
            }
            for (arguments, outcome) in runs {
                let value = arguments.last ?? ""
                let accepted = value.hasSuffix("/-rf")
                if accepted {
                    // A plain (if odd) directory: the commands work on it, or say plainly why not.
                    if arguments.first == "push" {
                        #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
                    } else {
                        #expect(outcome.stderr.isEmpty || outcome.stderr.hasPrefix("tpudeploy: error: "), "\(arguments): \(outcome.stderr)")
                    }
                } else {
                    #expect(outcome.status != 0, "\(arguments) was accepted: \(outcome.stdout)")
                    #expect(outcome.stderr.hasPrefix("tpudeploy: error: "), "\(arguments): \(outcome.stderr)")
                    // One line that says what is wrong (the value's newline shown, not printed): no shell saw it.
                    if arguments.first != "fix-memory" {
                        #expect(outcome.stderr.split(separator: "\n").count == 1, "\(arguments): \(outcome.stderr)")
                    }
                    #expect(!outcome.stderr.contains("sh: "), "\(arguments): \(outcome.stderr)")
                }
                if arguments.contains(where: { $0.hasPrefix("--name=") }) {
                    #expect(outcome.stderr.contains("cannot name a deployment"), "\(arguments): \(outcome.stderr)")
                } else if arguments.contains(where: { $0.hasPrefix("--remote-dir=") }) && !accepted {
                    #expect(outcome.stderr.contains("cannot be the deployment's directory on the board"), "\(arguments): \(outcome.stderr)")
                }
            }
            // The same values in tpudeploy.yaml's remote_dir are refused when the file is read, naming the key.
            for (index, value) in worst.enumerated() {
                let configured = try project(board, payload: payload, remoteDir: "/data/tpudeploy/\(value)", folder: "configured-\(index)")
                for command in [["logs"], ["push", "--dry-run"], ["stop"]] {
                    let outcome = try tpudeploy(command, in: configured)
                    #expect(outcome.status != 0)
                    #expect(outcome.stderr.contains("remote_dir"), "\(command): \(outcome.stderr)")
                }
            }
            let found = try SimulatedBoardHarness.openSSH(board, "ls -d /tmp/tpd-pwned-* /root/tpd-pwned-* /tpd-pwned-* 2>/dev/null; true")
            #expect(found.isEmpty, "ran on the board: \(found)")
            #expect(!FileManager.default.fileExists(atPath: marker + "-1"))
            // A dry run of a plain directory left nothing behind; a real push made it.
            let left = try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy")
            #expect(left.split(separator: "\n") == ["-rf"], "\(left)")
        }
    }

    @Test func engineCommandsSayWhatIsMissingAndPushLeavesNoTraceUntilItSends() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let directory = try project(board, payload: payload)
            let stop = try tpudeploy(["stop", "--name", "nonexist"], in: directory)
            #expect(stop.status == 1)
            #expect(stop.stderr.contains("there is no deployment nonexist on this board"), "\(stop.stderr)")
            let json = try tpudeploy(["logs", "--name", "nonexist", "--json"], in: directory)
            #expect(json.status == 1)
            let error = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["error"] as? String
            #expect(error?.contains("no log at /data/tpudeploy/nonexist/log/engine.log") == true, "\(json.stdout)")
            #expect(!json.stdout.contains("\\/"), "\(json.stdout)")

            let dryRun = try tpudeploy(["push", "--dry-run", "--json"], in: directory)
            #expect(dryRun.status == 0, "\(dryRun.stderr)")
            #expect(!dryRun.stdout.contains("\\/"), "\(dryRun.stdout)")
            // A push refused by its checks (llama2-13b's need is more than the factory heaps hold together).
            let refused = try tpudeploy(["push", "--profile", "llama2-13b"], in: directory)
            #expect(refused.status == 1)
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data").isEmpty, "a dry run or a refused push created directories")
        }
    }

    /// The supervisor's boards (no systemd): a deployment pushed and launched by root lives under linaro's /data,
    /// so linaro can swap its files. The engine must never run as root from them, before or after a reboot.
    @Test func aUserWhoSwapsTheEngineNeverGetsRoot() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        let ranAs = "/tmp/tpd-ran-as-\(UUID().uuidString.prefix(8))"
        let swappedRanAs = ranAs + "-swapped"
        defer { try? FileManager.default.removeItem(atPath: ranAs); try? FileManager.default.removeItem(atPath: swappedRanAs) }
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let pusher = DeploymentPusher(profiles: nil, passwordProvider: nil, events: nil)
            _ = try await pusher.push(payload.request(remoteDir: "/data/tpudeploy/fake"), session: session)
            // An engine that records who runs it and stays up, put in place of the pushed one by root (push itself
            // refuses anything but an ELF executable for the board's machine).
            _ = try SimulatedBoardHarness.openSSH(board, "printf '#!/bin/sh\\nid -u >> \(ranAs)\\nexec sleep 600\\n' > /data/tpudeploy/fake/tpu-llm-engine")
            let engine = DeployedEngine(deployment: DeploymentReference(name: "fake", remoteDir: "/data/tpudeploy/fake", port: 8080, profile: nil),
                                        target: SimulatedBoardHarness.rootTarget(board), passwordProvider: nil)
            let manager = EngineServiceManager(root: try await RootShell.open(session, passwordProvider: nil),
                                               payloads: PayloadDirectory(directory: Self.root.appendingPathComponent("Payloads")))
            let spec = try await engine.launchSpec(session: session)
            #expect(spec.user == "root")
            #expect(try await manager.install(spec) == "supervisor")
            // linaro owns /data, so could replace the engine: it runs as linaro, not root.
            #expect(Self.awaitOutput(board, "cat \(ranAs) 2>/dev/null", seconds: 120) == "1000\n")
            #expect(try SimulatedBoardHarness.openSSH(board, "stat -c '%u %a' /usr/local/sbin/tpu-llm-supervise") == "0 755\n")
            #expect(try await manager.status(spec).state == .running)
            let log = try await manager.logs(spec, lines: 5)
            #expect(log.contains("tpu-llm-supervise: starting /data/tpudeploy/fake/tpu-llm-engine"), "\(log)")

            // linaro swaps in its own engine (and the supervisor an older tpudeploy ran from the directory).
            let swap = Self.asLinaro(board, """
                set -e
                mv /data/tpudeploy /data/tpudeploy.old
                mkdir -p /data/tpudeploy/fake/service
                printf '#!/bin/sh\\nid -u >> \(swappedRanAs)\\nexec sleep 600\\n' > /data/tpudeploy/fake/tpu-llm-engine
                cp /data/tpudeploy/fake/tpu-llm-engine /data/tpudeploy/fake/service/tpu-llm-supervise
                chmod 755 /data/tpudeploy/fake/tpu-llm-engine /data/tpudeploy/fake/service/tpu-llm-supervise
                """)
            #expect(swap.status == 0, "\(swap.output)")
            await session.close()
            try harness.simulator.reboot(board.name)
            try harness.simulator.waitUntilUp(board.name, timeout: 300)
            // rc.local starts the supervisor at boot; it runs the swapped engine as linaro, who could run it anyway.
            #expect(Self.awaitOutput(board, "cat \(swappedRanAs) 2>/dev/null", seconds: 120) == "1000\n")

            // Anyone may change a world-writable directory: nothing runs from it, and launch says why.
            let fresh = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            _ = try SimulatedBoardHarness.openSSH(board, "chmod 0777 /data/tpudeploy/fake")
            let freshManager = EngineServiceManager(root: try await RootShell.open(fresh, passwordProvider: nil), payloads: manager.payloads)
            let refusal = await #expect(throws: ServiceError.self) { try await freshManager.install(spec) }
            #expect("\(refusal.map { "\($0)" } ?? "")".contains("/data/tpudeploy/fake is writable by users other than its owner"))
            // The running supervisor judges the engine again at its next start: it does not start it, and says so.
            _ = try SimulatedBoardHarness.openSSH(board, "kill $(cat /run/tpudeploy/fake/engine.pid)")
            var state = try await freshManager.status(spec).state
            let deadline = Date().addingTimeInterval(120)
            while state != .failed && Date() < deadline {
                try await Task.sleep(nanoseconds: 300_000_000)
                state = try await freshManager.status(spec).state
            }
            #expect(state == .failed)
            #expect(try SimulatedBoardHarness.openSSH(board, "cat /run/tpudeploy/fake/refused").contains("is writable by users other than its owner"))
            let stopped = try await freshManager.stop(spec)
            #expect(stopped.state == .stopped)
            #expect(try SimulatedBoardHarness.openSSH(board, "grep -c tpudeploy: /etc/rc.local; true") == "0\n")
            await fresh.close()
        }
        // Nothing ever ran as root.
        let lines = ((try? String(contentsOfFile: ranAs, encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: swappedRanAs, encoding: .utf8)) ?? "")
        #expect(!lines.split(separator: "\n").contains("0"), "ran as root: \(lines)")
    }

    /// linaro owns /data: it can put its own deployment tree in place of root's, with a link where push writes its
    /// temporary file. Root must not write through it: the push is refused, and the file the link names is untouched.
    @Test func rootDoesNotPushIntoADirectoryAnotherUserControls() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let pusher = DeploymentPusher(profiles: nil, passwordProvider: nil, events: nil)
            _ = try await pusher.push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            _ = try SimulatedBoardHarness.openSSH(board, "echo secret > /root/victim && chmod 600 /root/victim")
            let planted = Self.asLinaro(board, """
                cd /data && mv tpudeploy tpudeploy.old && mkdir -p tpudeploy/tiny \
                  && ln -s /root/victim tpudeploy/tiny/tokenizer.model.partial && ln -s /root/victim tpudeploy/tiny/.tpudeploy-manifest.json
                """)
            try #require(planted.status == 0, "\(planted.output)")
            await #expect {
                _ = try await pusher.push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            } throws: { error in
                guard case PushError.directoryNotRootsAlone(_, _, let path, let owner) = error else { return false }
                return path == "/data/tpudeploy/tiny" && owner == "linaro" && "\(error)".contains("Nothing was sent")
            }
            #expect(try SimulatedBoardHarness.openSSH(board, "stat -c '%U %a' /root/victim; cat /root/victim") == "root 600\nsecret\n")
            // The tree root made (root's alone) is pushed into as before.
            _ = try SimulatedBoardHarness.openSSH(board, "rm -rf /data/tpudeploy && mv /data/tpudeploy.old /data/tpudeploy")
            _ = try await pusher.push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            await session.close()
        }
    }

    /// An engine that ran as linaro left linaro's log directory, with a link in place of its log. Once the directory
    /// chain is root's, the engine runs as root: launch takes the log directory back before it starts it.
    @Test func aRootEngineDoesNotAppendThroughAnotherUsersLogLink() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            _ = try await DeploymentPusher(profiles: nil, passwordProvider: nil, events: nil).push(payload.request(remoteDir: "/data/tpudeploy/logs"), session: session)
            _ = try SimulatedBoardHarness.openSSH(board, """
                echo secret > /root/victim && chmod 600 /root/victim && chown root:root /data && chmod 755 /data \
                  && printf '#!/bin/sh\\necho engine output\\nexec sleep 600\\n' > /data/tpudeploy/logs/tpu-llm-engine \
                  && mkdir -p /data/tpudeploy/logs/log && ln -s /root/victim /data/tpudeploy/logs/log/engine.log && chown -h -R linaro /data/tpudeploy/logs/log
                """)
            let engine = DeployedEngine(deployment: DeploymentReference(name: "logs", remoteDir: "/data/tpudeploy/logs", port: 8094, profile: nil),
                                        target: SimulatedBoardHarness.rootTarget(board), passwordProvider: nil)
            let manager = EngineServiceManager(root: try await RootShell.open(session, passwordProvider: nil),
                                               payloads: PayloadDirectory(directory: Self.root.appendingPathComponent("Payloads")))
            let spec = try await engine.launchSpec(session: session)
            _ = try await manager.install(spec)
            #expect(Self.awaitOutput(board, "grep -l 'engine output' /data/tpudeploy/logs/log/engine.log 2>/dev/null", seconds: 120) != "")
            #expect(try SimulatedBoardHarness.openSSH(board, "stat -c '%U %F' /data/tpudeploy/logs/log /data/tpudeploy/logs/log/engine.log")
                        == "root directory\nroot regular file\n")
            #expect(try SimulatedBoardHarness.openSSH(board, "cat /root/victim") == "secret\n")
            _ = try await manager.stop(spec)
            await session.close()
        }
    }

    @Test func anotherUserCannotRewriteTheLockHolder() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let held = try await session.take(.bootImage(command: "fix-memory"), protecting: "the boot image")
            #expect(held.outcome == .locked)
            let lock = "/run/lock/tpudeploy-boot-image.lock"
            #expect(try SimulatedBoardHarness.openSSH(board, "stat -c '%u %a' \(lock) \(lock).holder.0") == "0 644\n0 644\n")
            let overwrite = Self.asLinaro(board, "echo 'tpudeploy from admin; board pid 1' > \(lock).holder.0")
            #expect(overwrite.status != 0)
            #expect(overwrite.output.contains("Permission denied"), "\(overwrite.output)")
            #expect(Self.asLinaro(board, "rm -f \(lock).holder.0").status != 0)
            // linaro's own record, naming root's process: not believed.
            _ = Self.asLinaro(board, "echo 'tpudeploy from admin; board pid 1' > \(lock).holder.1000")
            let other = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            let busy = await #expect(throws: BoardBusyError.self) { _ = try await other.take(.bootImage(command: "fix-memory"), protecting: "the boot image") }
            #expect(busy?.holder?.hasPrefix("tpudeploy fix-memory from ") == true, "\(String(describing: busy?.holder))")
            await held.release()
            await other.close()
            await session.close()
        }
    }
}

/// Outcomes of commands run on several threads, in the order they were planned.
private final class OutcomeList: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<BoardSecurityTests.Outcome, Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<BoardSecurityTests.Outcome, Error>) { lock.withLock { results[index] = result } }

    var all: [Result<BoardSecurityTests.Outcome, Error>] {
        lock.withLock { results.map { $0 ?? .failure(HarnessError.commandFailed("not run")) } }
    }
}
