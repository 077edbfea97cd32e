import Foundation
import Testing
@testable import TPUDeployKit

@Suite struct EnginePortHoldersTests {
    @Test func deploymentsAndListenersAreRead() {
        let output = "@@holder\tchatglm2\t/data/tpudeploy/chatglm2\tsupervisor\n@@listener\t812\t\t/usr/bin/python3\n@@done\n"
        #expect(EnginePortHolder.parse(output) == [
            EnginePortHolder(kind: .deployment(name: "chatglm2", directory: "/data/tpudeploy/chatglm2", manager: "supervisor")),
            EnginePortHolder(kind: .listener(pid: 812, command: "/usr/bin/python3", deployment: nil)),
        ])
        #expect(EnginePortHolder.parse("@@done\n").isEmpty)
    }

    /// The engine a deployment's service runs also listens: it is named once, as the deployment.
    @Test func aDeploymentsOwnEngineIsNotNamedTwice() {
        let output = "@@holder\tchatglm2\t/data/tpudeploy/chatglm2\tsystemd\n@@listener\t90\tchatglm2\t/data/tpudeploy/chatglm2/tpu-llm-engine\n@@done\n"
        #expect(EnginePortHolder.parse(output).count == 1)
    }

    @Test func theRefusalNamesTheHolderAndBothWaysOut() {
        let holder = EnginePortHolder(kind: .deployment(name: "chatglm2", directory: "/data/tpudeploy/chatglm2", manager: "supervisor"))
        let text = EnginePortError.held(port: 8080, deployment: "llama2", by: holder).description
        #expect(text.contains("port 8080 on the board is held by deployment chatglm2 (/data/tpudeploy/chatglm2"))
        #expect(text.contains("--engine-port"))
        #expect(text.contains("tpudeploy stop --name chatglm2"))
        let stranger = EnginePortHolder(kind: .listener(pid: 812, command: "/usr/bin/python3", deployment: nil))
        #expect(EnginePortError.held(port: 8080, deployment: "llama2", by: stranger).description.contains("in use by /usr/bin/python3 (pid 812)"))
    }

    @Test func theScriptIsValidShell() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-n", "-c", "set -- 8080 \"it's\"\n" + EnginePortHolders.script + "\n" + EngineAPIKeyFile.script]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}

@Suite struct EngineAPIKeyTests {
    @Test func aKeyIsOnePrintableLine() throws {
        #expect(try EngineAPIKey(fileText: "s3cret-Key_1\r\nsecond line\n", source: "f").value == "s3cret-Key_1")
        #expect(throws: EngineAccessError.self) { try EngineAPIKey(fileText: "\n", source: "--api-key-file k") }
        #expect(throws: EngineAccessError.self) { try EngineAPIKey("two words", source: "TPUDEPLOY_API_KEY") }
        #expect(throws: EngineAccessError.self) { try EngineAPIKey("ключ", source: "TPUDEPLOY_API_KEY") }
    }

    /// The engine's command line (and so `ps`, the unit and engine.args) carries the key file's path only.
    @Test func theLaunchSpecNamesTheFileNotTheKey() {
        let spec = EngineLaunchSpec.serve(name: "chat", directory: "/data/tpudeploy/chat", engine: "/data/tpudeploy/chat/tpu-llm-engine",
                                          model: "/data/tpudeploy/chat/m.bmodel", tokenizer: "/data/tpudeploy/chat/t.model",
                                          family: nil, layers: nil, port: 8080, user: "linaro",
                                          apiKeyFile: EngineAPIKeyFile.path(directory: "/data/tpudeploy/chat"))
        #expect(spec.commandLine.suffix(2) == ["--api-key-file", "/data/tpudeploy/chat/service/api-key"])
        #expect(spec.requiresAPIKey)
        let open = EngineLaunchSpec.serve(name: "chat", directory: "/d", engine: "/d/e", model: "/d/m", tokenizer: "/d/t",
                                          family: nil, layers: nil, port: 8080, user: "linaro")
        #expect(!open.requiresAPIKey)
    }

    @Test func messagesSayHowToPassTheKey() {
        let needed = EngineAccessError.keyNeeded(deployment: "llama2-sim").description
        #expect(needed.contains("TPUDEPLOY_API_KEY") && needed.contains("--api-key-file FILE"))
        let refused = EngineAccessError.keyRefused(deployment: "llama2-sim", source: "--api-key-file k").description
        #expect(refused.contains("refused the API key from --api-key-file k"))
        let stopped = EngineAccessError.notListening(deployment: "llama2-sim", port: 8080, target: "root@10.0.0.2").description
        #expect(stopped.contains("not running") && stopped.contains("tpudeploy launch"))
    }
}
