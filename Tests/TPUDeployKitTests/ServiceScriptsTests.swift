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

    @Test func everyScriptIsValidShellWhateverTheNames() throws {
        let supervisor = try String(contentsOf: payloads().supervisorScript, encoding: .utf8)
        let unit = try String(contentsOf: payloads().unitTemplate, encoding: .utf8)
        let install = ServiceScripts.install(spec, supervisorScript: supervisor, unitTemplate: unit)
        #expect(try shellAccepts(install))
        #expect(try shellAccepts(ServiceScripts.stop(spec)))
        #expect(try shellAccepts(ServiceScripts.status(spec)))
        #expect(try shellAccepts(ServiceScripts.logs(spec, lines: 50)))
        #expect(try shellAccepts(supervisor))
        #expect(!(try shellAccepts("if then fi")))
        // The unit's ExecStart holds every argument, quoted for systemd.
        #expect(install.contains(#"ExecStart="/data/tpudeploy/chat's/tpu-llm-engine" "serve" "--model" "/data/tpudeploy/chat's/m 1.bmodel""#))
        #expect(install.contains("User=linaro"))
        // The supervisor reads the arguments one per line, exactly.
        #expect(install.contains("\n--model\n/data/tpudeploy/chat's/m 1.bmodel\n"))
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
