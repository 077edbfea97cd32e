import Foundation
import Testing
@testable import TPUDeployKit

@Suite struct ServiceScriptsTests {
    let spec = EngineLaunchSpec.serve(name: "chat's", directory: "/data/tpudeploy/chat's", engine: "/data/tpudeploy/chat's/tpu-llm-engine",
                                      model: "/data/tpudeploy/chat's/m 1.bmodel", tokenizer: "/data/tpudeploy/chat's/tokenizer.model",
                                      family: "llama2", layers: 4, port: 8080, user: "linaro")

    private func payloads() -> PayloadDirectory {
        PayloadDirectory(directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Payloads"))
    }

    /// `sh -n` parses a script without running it.
    private func shellAccepts(_ script: String) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-n"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Runs a command line with /bin/sh (dash, as POSIX as a board's login shell) in `directory`.
    private func runShell(_ command: String, in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-service-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// What a hostile user would put where a value reaches a board shell; each would create a file named `pwned…`.
    static let hostile = ["$(touch pwned1)", "`touch pwned2`", "x; touch pwned3", "x' ; touch pwned4 ; '", "x\" ; touch pwned5 ; \"",
                          "x\ntouch pwned6", "-n", "a b", "模型 $(touch pwned7)"]

    @Test func everyBoardScriptIsValidShell() throws {
        let supervisor = try String(contentsOf: payloads().supervisorScript, encoding: .utf8)
        let unit = try String(contentsOf: payloads().unitTemplate, encoding: .utf8)
        let install = try ServiceScripts.install(spec, supervisorScript: supervisor, unitTemplate: unit)
        for script in ["service-install.sh", "service-stop.sh", "service-status.sh", "service-logs.sh", "push-probe.sh",
                       "push-make-directory.sh", "board-lock.sh"] {
            #expect(try shellAccepts(try BoardScript.named(script).text), "\(script)")
        }
        #expect(try shellAccepts(supervisor))
        #expect(!(try shellAccepts("if then fi")))
        // The unit's ExecStart holds every argument, quoted for systemd; the user is filled in on the board.
        let unitText = install.arguments[4]
        #expect(unitText.contains(#"ExecStart="/data/tpudeploy/chat's/tpu-llm-engine" "serve" "--model" "/data/tpudeploy/chat's/m 1.bmodel""#))
        #expect(unitText.contains("User=@USER@"))
        #expect(Array(install.arguments.suffix(spec.commandLine.count)) == spec.commandLine)
        // The script's text holds no value: they are all arguments.
        #expect(!install.script.text.contains("chat's"))
    }

    /// Launches and stops of several deployments may edit rc.local at once (a fleet rollout, two terminals): each
    /// edit is a read-modify-write, so without one lock and one temporary file per edit, lines get lost.
    @Test(.enabled(if: getuid() == 0, "the lock lives in root's /run")) func concurrentRCLocalEditsKeepEveryLine() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let install = try BoardScript.named("service-install.sh").text
        #expect(!install.contains("# @include"))
        let start = try #require(install.range(of: "rc_edit() {"))
        let end = try #require(install.range(of: "\n}\n", range: start.upperBound..<install.endIndex))
        let function = String(install[start.lowerBound..<end.upperBound])
        try "#!/bin/sh -e\nexit 0\n".write(to: directory.appendingPathComponent("rc.local"), atomically: true, encoding: .utf8)
        // 24 shells at once, each started here: a shell's own `wait` could sleep forever, since the test process
        // hands its children a signal mask with SIGCHLD blocked.
        let editors = try (1...24).map { i -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "rc=\"$PWD/rc.local\"\n\(function)\nrc_edit '/^exit 0/ && !done { print ENVIRON[\"LINE\"]; done = 1 } { print }'"]
            process.environment = ["PATH": "/usr/bin:/bin", "TAG": "# t\(i)", "LINE": "run \(i) # t\(i)"]
            process.currentDirectoryURL = directory
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        for editor in editors {
            editor.waitUntilExit()
            #expect(editor.terminationStatus == 0)
        }
        let lines = try String(contentsOf: directory.appendingPathComponent("rc.local"), encoding: .utf8).split(separator: "\n")
        #expect(Set(lines.filter { $0.hasPrefix("run ") }).count == 24, "\(lines)")
        #expect(lines.last == "exit 0")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/run").allSatisfy { !$0.hasPrefix("tpudeploy-rc-local.") || $0 == "tpudeploy-rc-local.lock" })
    }

    @Test func theRCLocalLineGivesTheSupervisorEveryArgumentExactly() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for value in Self.hostile {
            let hostileSpec = EngineLaunchSpec.serve(name: "n", directory: "/data/tpudeploy/n", engine: "/data/tpudeploy/n/tpu-llm-engine",
                                                     model: "/data/tpudeploy/n/" + value, tokenizer: value, family: nil, layers: nil,
                                                     port: 8080, user: "linaro")
            let line = ServiceScripts.rcLocalLine(hostileSpec)
            // The line as rc.local's shell reads it, with its first word (the supervisor) printing its arguments.
            let words = try #require(line.components(separatedBy: " >/dev/null").first)
            let run = try runShell("set -- \(words); shift; for a; do printf '%s\\0' \"$a\"; done", in: directory)
            #expect(run.status == 0, "\(run.output)")
            let arguments = run.output.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
            #expect(arguments == ["start", "n", "linaro", "/data/tpudeploy/n"] + hostileSpec.commandLine)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("pwned") }.isEmpty)
    }

    @Test func hostileValuesReachTheScriptsAsValues() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for value in Self.hostile {
            let spec = EngineLaunchSpec(name: "n", directory: directory.path + "/" + value, commandLine: ["e"], port: 1, user: "root")
            let logs = try runShell(try ServiceScripts.logs(spec, lines: 5).commandLine, in: directory)
            #expect(logs.output.hasPrefix("@@error:no log at \(spec.logFile):"), "\(logs.output)")
            // The probe of a directory that does not exist reports on its parent and creates nothing.
            let probe = try runShell(try PushScripts(directory: spec.directory).probe(names: [value, "m.bmodel"]).commandLine, in: directory)
            #expect(probe.output.contains("@@arch "), "\(probe.output)")
            #expect(probe.output.contains("@@file - - - \(value)\n"), "\(probe.output)")
            #expect(!FileManager.default.fileExists(atPath: spec.directory))
            let made = try runShell(try PushScripts(directory: spec.directory).makeDirectory().commandLine, in: directory)
            // It counts the one directory it made (its parent existed), then says ok.
            #expect(made.output == "@@created 1\n@@ok\n", "\(made.output)")
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: spec.directory, isDirectory: &isDirectory) && isDirectory.boolValue)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("pwned") }.isEmpty)
    }

    /// The supervisor's choice of user, on a real file system (needs root to hand files to another user).
    @Test(.enabled(if: getuid() == 0, "needs root to chown")) func theEngineNeverRunsAsRootFromAFileAnotherUserCanChange() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let supervisor = payloads().supervisorScript.path
        let deployment = directory.appendingPathComponent("deployment")
        try FileManager.default.createDirectory(at: deployment, withIntermediateDirectories: true)
        let engine = deployment.appendingPathComponent("tpu-llm-engine")
        try LocalFile.write(Array("#!/bin/sh\n".utf8), to: engine.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: engine.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        func runas(_ user: String) throws -> String {
            try runShell(shellCommand(["sh", supervisor, "runas", user, engine.path]), in: directory).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Root's all the way up (/tmp is sticky): root may run it.
        #expect(try runas("root") == "@@runas root")
        #expect(try runas("nobody") == "@@runas nobody")
        // Another user owns a directory above it: it runs as that user, never as root.
        try FileManager.default.setAttributes([.ownerAccountID: 65534], ofItemAtPath: directory.path)
        #expect(try runas("root") == "@@runas nobody")
        // Through a symbolic link owned by root, the target's directories still count.
        let link = directory.deletingLastPathComponent().appendingPathComponent("tpd-link-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: engine)
        defer { try? FileManager.default.removeItem(at: link) }
        #expect(try runShell(shellCommand(["sh", supervisor, "runas", "root", link.path]), in: directory).output == "@@runas nobody\n")
        // Anyone may write to it: nobody runs it.
        try FileManager.default.setAttributes([.ownerAccountID: 0, .posixPermissions: 0o777], ofItemAtPath: deployment.path)
        #expect(try runas("root").hasPrefix("@@refuse \(deployment.path) is writable by users other than its owner"))
        #expect(try runas("no-such-user-tpd") == "@@refuse there is no user no-such-user-tpd on this board")
    }

    @Test func systemdQuotingEscapesWhatSystemdExpands() {
        #expect(ServiceScripts.systemdQuoted(#"a "b" $HOME 100% \x"#) == #""a \"b\" $$HOME 100%% \\x""#)
    }

    @Test func statusLinesParse() throws {
        let running = try ServiceStatus.parse("noise\n@@manager supervisor\n@@state running\n@@pid 412\n@@restarts 2\n")
        #expect(running == ServiceStatus(manager: "supervisor", state: .running, pid: 412, restarts: 2))
        #expect(try ServiceStatus.parse("@@state not-installed\n").state == .notInstalled)
        #expect(throws: ServiceError.scriptFailed("the engine is missing")) { try ServiceStatus.parse("@@error:the engine is missing\n") }
        #expect(throws: ServiceError.self) { try ServiceStatus.parse("@@state dancing\n") }
        #expect(throws: ServiceError.self) { try ServiceStatus.parse("bash: syntax error\n") }
    }

    @Test func anNPUShortageNamesTheFixMemoryCommand() {
        let error = ServiceError.failedToLoad(reason: "NPU heap too small", fixMemoryCommand: "tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim")
        #expect(error.description.contains("run `tpudeploy fix-memory --board 1684x_evb --for-model llama2-sim`"))
    }
}
