import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

/// The built `tpudeploy` executable, beside the test bundle.
private let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let simModel = repositoryRoot.appendingPathComponent("build/sim-models/llama2-sim")

private struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var all: String { stdout + stderr }
}

/// Runs tpudeploy in `directory` with no terminal on stdin, as CI and scripts do; `environment` adds to (or,
/// with an empty value, removes from) the test's own.
private func tpudeploy(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:]) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var environment = ProcessInfo.processInfo.environment
    environment["TPUDEPLOY_PROFILES"] = repositoryRoot.appendingPathComponent("Profiles").path
    environment["TPUDEPLOY_PAYLOADS"] = repositoryRoot.appendingPathComponent("Payloads").path
    for name in ["TPUDEPLOY_PASSWORD", "TPUDEPLOY_API_KEY"] { environment.removeValue(forKey: name) }
    for (key, value) in extra { environment[key] = value.isEmpty ? nil : value }
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // stderr is read on a thread of its own: blocking the test's (cooperative) thread on a Task could starve it.
    let box = DataBox()
    let readErrors = Thread { box.data = err.fileHandleForReading.readDataToEndOfFile(); box.done.signal() }
    readErrors.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    box.done.wait()
    return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: box.data, as: UTF8.self))
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}

private func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-sec-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Stops the simulated boards of `state` and removes `directory`. `sim down` is tried again when it fails: on a
/// loaded machine the board's processes may still hold its mounts for a moment after they were killed.
private func removeBoardsAndFiles(state: String, directory: URL) {
    for attempt in 0..<3 {
        if attempt > 0 { Thread.sleep(forTimeInterval: 1) }
        if (try? tpudeploy(["sim", "down", "--state-dir", state], in: directory))?.status == 0 { break }
    }
    try? FileManager.default.removeItem(at: directory)
}

/// Mistakes on the command line that need no board: each gets one error saying what is wrong and what to do.
@Suite("security: command-line refusals")
struct SecurityCommandLineTests {
    @Test func anEmptyHostSaysWhatToGive() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try tpudeploy(["inspect", "--host", ""], in: directory)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("the board's address from --host is empty"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("--host 192.0.2.10"))
        #expect(!outcome.stderr.contains("libssh"))
    }

    @Test func conflictingLayoutFlagsAreNamed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try tpudeploy(["fix-memory", "--preset", "llm", "--for-model", "chatglm2-6b", "--dry-run"], in: directory)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("--preset llm and --for-model chatglm2-6b each choose a layout"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("keep only one"))
    }

    @Test func anAPIKeyOnTheCommandLineIsRefusedNamingTheFileFlag() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for command in ["chat", "verify", "launch"] {
            let outcome = try tpudeploy([command, "--api-key", "s3cret", "--host", "127.0.0.1", "--name", "x"] + (command == "chat" ? ["-p", "hi"] : []),
                                        in: directory)
            #expect(outcome.status != 0, "\(command)")
            #expect(outcome.stderr.contains("--api-key-file FILE") && outcome.stderr.contains("TPUDEPLOY_API_KEY"), "\(command): \(outcome.stderr)")
        }
    }
}

@Suite("security on simulated boards", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct SecurityTests {
    /// A cloned project whose tpudeploy.yaml names an ssh_config with a ProxyCommand and a Match exec: neither
    /// runs, the user is told which directives were ignored and how to trust the file, and inspect still
    /// reaches the board. The same file given with --ssh-config is honoured: both commands run and the
    /// connection goes through the proxy.
    @Test func aProjectSSHConfigRunsNothingButTheSameFileFromTheFlagDoes() throws {
        let directory = try temporaryDirectory()
        let state = directory.appendingPathComponent("sim").path
        defer { removeBoardsAndFiles(state: state, directory: directory) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")

        let proxyMarker = directory.appendingPathComponent("proxy-ran").path
        let matchMarker = directory.appendingPathComponent("match-exec-ran").path
        // A real proxy, so that the trusted case proves the ProxyCommand carried the connection.
        let proxy = directory.appendingPathComponent("proxy.py")
        try """
            import os, socket, sys, threading
            peer = socket.create_connection((sys.argv[1], int(sys.argv[2])))
            def upstream():
                while True:
                    data = os.read(0, 65536)
                    if not data:
                        peer.shutdown(socket.SHUT_WR)
                        return
                    peer.sendall(data)
            threading.Thread(target=upstream, daemon=True).start()
            while True:
                data = peer.recv(65536)
                if not data:
                    break
                os.write(1, data)
            """.write(to: proxy, atomically: true, encoding: .utf8)
        try """
            Match exec "touch \(matchMarker)"
              ConnectTimeout 10
            Host *
              ProxyCommand sh -c 'touch \(proxyMarker) && exec /usr/bin/python3 \(proxy.path) %h %p'

            """.write(to: directory.appendingPathComponent("evil_config"), atomically: true, encoding: .utf8)
        let projectFile = directory.appendingPathComponent("tpudeploy.yaml").path
        var config = try #require(try ProjectConfig.load(from: projectFile))
        config.target?.sshConfig = "./evil_config"
        try config.write(header: "a cloned project")

        let cloned = try tpudeploy(["inspect", "--json"], in: directory)
        #expect(cloned.status == 0, "\(cloned.stderr)")
        #expect(!FileManager.default.fileExists(atPath: proxyMarker), "the project's ProxyCommand ran")
        #expect(!FileManager.default.fileExists(atPath: matchMarker), "the project's Match exec ran")
        let warnings = cloned.stderr.split(separator: "\n").filter { $0.hasPrefix("tpudeploy: warning: ignoring") }
        #expect(warnings.count == 2, "\(cloned.stderr)")
        #expect(warnings.contains { $0.contains("ignoring ProxyCommand on line 4 of ./evil_config (named by tpudeploy.yaml)") })
        #expect(warnings.contains { $0.contains("ignoring Match exec on line 1") })
        #expect(warnings.allSatisfy { $0.contains("--ssh-config ./evil_config") })

        // The fleet commands take the project file's connection settings too: the same file runs nothing there.
        let host = try #require(config.target?.host)
        try "[sim]\nevb1 ansible_host=\(host)\n".write(to: directory.appendingPathComponent("boards.ini"), atomically: true, encoding: .utf8)
        let fleet = try tpudeploy(["fleet", "inspect", "-i", "boards.ini"], in: directory)
        #expect(fleet.status == 0, "\(fleet.stdout) \(fleet.stderr)")
        #expect(!FileManager.default.fileExists(atPath: proxyMarker), "the project's ProxyCommand ran for fleet inspect")
        #expect(!FileManager.default.fileExists(atPath: matchMarker), "the project's Match exec ran for fleet inspect")
        #expect(fleet.stderr.split(separator: "\n").filter { $0.hasPrefix("tpudeploy: warning: ignoring") }.count == 2, "\(fleet.stderr)")

        let trusted = try tpudeploy(["inspect", "--json", "--ssh-config", "./evil_config"], in: directory)
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(FileManager.default.fileExists(atPath: proxyMarker), "the user's own choice is honoured")
        #expect(FileManager.default.fileExists(atPath: matchMarker))
        #expect(!trusted.stderr.contains("warning"))
    }

    /// launch with an API key: the key is on no command line (host or board), in no unit, args file or log,
    /// and not in tpudeploy's output; the key file is 0600. chat without the key says how to pass it; with
    /// TPUDEPLOY_API_KEY or --api-key-file it answers. A second deployment on the same port is refused, naming
    /// the first. With the engine stopped, chat says so instead of "connection reset by peer". A program on the
    /// port is named too.
    @Test func launchWithAKeyThenASecondDeploymentOnThePortThenAStoppedEngine() throws {
        let directory = try temporaryDirectory()
        let state = directory.appendingPathComponent("sim").path
        defer { removeBoardsAndFiles(state: state, directory: directory) }
        let up = try tpudeploy(["sim", "up", "--state-dir", state, "--boot-delay", "0"], in: directory)
        try #require(up.status == 0, "\(up.stderr)")
        let initialised = try tpudeploy(["init", "--deployment", "first", "--profile", "llama2-sim",
                                         "--bmodel", simModel.appendingPathComponent("llama2-sim.bmodel").path,
                                         "--tokenizer", simModel.appendingPathComponent("tokenizer.model").path], in: directory)
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let fixed = try tpudeploy(["fix-memory", "--board", "1684x_evb", "--for-model", "llama2-sim", "--yes"], in: directory)
        try #require(fixed.status == 0, "\(fixed.stderr)")
        let pushed = try tpudeploy(["push"], in: directory)
        try #require(pushed.status == 0, "\(pushed.stderr)")

        let key = "tpd-\(UUID().uuidString)"
        let keyFile = directory.appendingPathComponent("api-key").path
        try #require(FileManager.default.createFile(atPath: keyFile, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600]))
        let launched = try tpudeploy(["launch", "--api-key-file", keyFile, "--json"], in: directory)
        try #require(launched.status == 0, "\(launched.stderr)")
        #expect(!launched.all.contains(key))
        let report = try JSONSerialization.jsonObject(with: Data(launched.stdout.utf8)) as? [String: Any]
        #expect(report?["api_key_required"] as? Bool == true)

        // Nowhere on the board but the key file, which only its owner reads.
        let simulator = Simulator(stateDirectory: URL(fileURLWithPath: state))
        let board = try simulator.board(named: try #require(try simulator.list().first).board.name)
        let dir = "/data/tpudeploy/first"
        let onTheBoard = try SimulatedBoardHarness.openSSH(board, """
            echo "== ps"; ps -eo pid,args
            echo "== cmdlines"; for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < "$f"; echo; done
            echo "== environ"; for f in /proc/[0-9]*/environ; do tr '\\000' '\\n' < "$f" 2>/dev/null; done
            echo "== files"; cat \(dir)/service/engine.args \(dir)/service/tpu-llm-supervise /etc/systemd/system/tpudeploy-first.service /etc/rc.local 2>/dev/null
            echo "== log"; cat \(dir)/log/engine.log
            echo "== key"; stat -c '%a %U' \(dir)/service/api-key
            """)
        let keyAt = onTheBoard.range(of: "== key")?.lowerBound ?? onTheBoard.endIndex
        #expect(!onTheBoard[..<keyAt].contains(key), "the key shows on the board:\n\(onTheBoard)")
        #expect(onTheBoard.contains("--api-key-file \(dir)/service/api-key"), "the engine reads the key file:\n\(onTheBoard)")
        // Owned by the user the engine runs as: linaro here, who owns /data (root never runs an engine another user
        // could replace), and readable by nobody else.
        #expect(onTheBoard[keyAt...].contains("600 linaro"), "\(onTheBoard[keyAt...])")
        let hostProcesses = try SimulatedBoardHarness.run("/usr/bin/ps", ["-eo", "args"])
        #expect(!hostProcesses.contains(key))

        let withoutKey = try tpudeploy(["chat", "-p", "Hello there"], in: directory)
        #expect(withoutKey.status == 1)
        #expect(withoutKey.stderr.contains("launched with an API key and none was given"), "\(withoutKey.stderr)")
        #expect(withoutKey.stderr.contains("TPUDEPLOY_API_KEY") && withoutKey.stderr.contains("--api-key-file FILE"))
        let wrongKey = try tpudeploy(["chat", "-p", "Hello there"], in: directory, environment: ["TPUDEPLOY_API_KEY": "not-the-key"])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stderr.contains("refused the API key from TPUDEPLOY_API_KEY"), "\(wrongKey.stderr)")
        let fromEnvironment = try tpudeploy(["chat", "-p", "Hello there", "--json"], in: directory, environment: ["TPUDEPLOY_API_KEY": key])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        let reply = (try? JSONSerialization.jsonObject(with: Data(fromEnvironment.stdout.utf8)) as? [String: Any])?["reply"] as? [String: Any]
        let answer = reply?["text"] as? String ?? ""
        #expect(!answer.isEmpty)
        let fromFile = try tpudeploy(["verify", "--api-key-file", keyFile, "--json"], in: directory)
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(!fromFile.all.contains(key) && !fromEnvironment.all.contains(key))

        // A second deployment on the first one's port is refused before anything changes on the board.
        let pushedSecond = try tpudeploy(["push", "--remote-dir", "/data/tpudeploy/second"], in: directory)
        try #require(pushedSecond.status == 0, "\(pushedSecond.stderr)")
        let second = try tpudeploy(["launch", "--name", "second"], in: directory)
        #expect(second.status == 1)
        // Named from the running engine (its supervisor keeps its command line in /run, not in the deployment).
        #expect(second.stderr.contains("port 8080 on the board is") && second.stderr.contains("deployment first"), "\(second.stderr)")
        #expect(second.stderr.contains("--engine-port"))
        let secondArgs = try SimulatedBoardHarness.openSSH(board, "ls /data/tpudeploy/second/service 2>&1 || true")
        #expect(!secondArgs.contains("engine.args"), "nothing was installed for the refused deployment")
        // The first still answers, alone.
        let stillFirst = try tpudeploy(["status", "--json"], in: directory)
        #expect(stillFirst.status == 0, "\(stillFirst.stdout) \(stillFirst.stderr)")

        // Relaunching the first on its own port is not a conflict; without a key the old key file goes.
        let relaunched = try tpudeploy(["launch", "--json"], in: directory)
        #expect(relaunched.status == 0, "\(relaunched.stderr)")
        #expect((try? JSONSerialization.jsonObject(with: Data(relaunched.stdout.utf8)) as? [String: Any])?["api_key_required"] as? Bool == false)
        let keyGone = try SimulatedBoardHarness.openSSH(board, "ls \(dir)/service")
        #expect(!keyGone.contains("api-key"), "\(keyGone)")

        // A name with no engine is not answered by the engine that holds the port (another deployment's).
        for command in [["chat", "-p", "Hello there"], ["verify"]] {
            let typo = try tpudeploy(command + ["--name", "nonexist"], in: directory)
            #expect(typo.status == 1, "\(command): \(typo.stdout)")
            #expect(typo.stderr.contains("127.0.0.1:8080 on root@") && typo.stderr.contains("is the engine of deployment first, not of nonexist"),
                    "\(command): \(typo.stderr)")
            #expect(typo.stderr.contains("--name first"), "\(typo.stderr)")
            #expect(!typo.stdout.contains("verify: ok"))
        }

        let stopped = try tpudeploy(["stop"], in: directory)
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let toNobody = try tpudeploy(["chat", "-p", "Hello there"], in: directory)
        #expect(toNobody.status == 1)
        #expect(toNobody.stderr.contains("nothing answers on 127.0.0.1:8080"), "\(toNobody.stderr)")
        #expect(toNobody.stderr.contains("tpudeploy launch"))
        #expect(!toNobody.stderr.contains("reset by peer"))

        // A program that is no deployment holds the port: launch names it instead of starting beside it.
        _ = try SimulatedBoardHarness.openSSH(board, "setsid /usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 >/dev/null 2>&1 < /dev/null & sleep 1")
        let besideAProgram = try tpudeploy(["launch"], in: directory)
        #expect(besideAProgram.status == 1)
        #expect(besideAProgram.stderr.contains("port 8080 on the board is in use by /usr/bin/python3 (pid"), "\(besideAProgram.stderr)")
    }
}
