import Foundation
import Testing
@testable import TPUDeployKit

/// `init` checks a deployment with the config reader's own checks, and that its local files exist.
@Suite struct DeploymentValidationTests {
    private func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tpudeploy-init-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func aRelativeRemoteDirIsRefusedByInitAsByTheConfigReader() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["m.bmodel", "tokenizer.model"] { FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data([1])) }
        let config = dir.appendingPathComponent("tpudeploy.yaml").path
        let settings = DeploymentSettings(name: "chat", bmodel: "m.bmodel", tokenizer: "tokenizer.model", remoteDir: "data/chat")
        #expect(throws: DeploymentSettingsError.invalidValue(
            key: "remote_dir", flag: "--remote-dir", problem: "'data/chat' cannot be the deployment's directory on the board: it must be an absolute path on the board (start with /). Use a path such as /data/tpudeploy/chat")) {
            try settings.validateForInit(configFile: config)
        }
        // The reader refuses the same file with the same words, naming the key.
        try ProjectConfig(target: nil, deployment: settings, file: config).write(header: "test")
        #expect(throws: YAMLFileError.self) { try ProjectConfig.load(from: config) }
        do { _ = try ProjectConfig.load(from: config) } catch {
            #expect("\(error)".contains("remote_dir: 'data/chat' cannot be the deployment's directory on the board: it must be an absolute path"))
        }
        var fixed = settings
        fixed.remoteDir = "/data/chat"
        try fixed.validateForInit(configFile: config)
        try ProjectConfig(target: nil, deployment: fixed, file: config).write(header: "test")
        #expect(try ProjectConfig.load(from: config)?.deployment == fixed)
    }

    @Test func missingModelFilesAreRefusedWithThePathLookedAt() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("tpudeploy.yaml").path
        let settings = DeploymentSettings(name: "chat", bmodel: "m.bmodel", tokenizer: "tokenizer.model")
        #expect(throws: DeploymentSettingsError.missingFile(flag: "--bmodel", path: "m.bmodel", resolvedPath: dir.appendingPathComponent("m.bmodel").path)) {
            try settings.validateForInit(configFile: config)
        }
        FileManager.default.createFile(atPath: dir.appendingPathComponent("m.bmodel").path, contents: Data([1]))
        #expect(throws: DeploymentSettingsError.missingFile(flag: "--tokenizer", path: "tokenizer.model", resolvedPath: dir.appendingPathComponent("tokenizer.model").path)) {
            try settings.validateForInit(configFile: config)
        }
        // A directory is not a tokenizer.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tokenizer.model"), withIntermediateDirectories: false)
        #expect(throws: DeploymentSettingsError.self) { try settings.validateForInit(configFile: config) }
        let message = "\(DeploymentSettingsError.missingFile(flag: "--bmodel", path: "m.bmodel", resolvedPath: "/p/m.bmodel"))"
        #expect(message == "--bmodel m.bmodel: no such file (looked at /p/m.bmodel: relative paths are read from the project file's directory). Pass the path of the file to deploy, or copy it there first.")
    }

    @Test func aBadNameOrPortIsRefusedBeforeAnyFileIsLookedAt() {
        let bad = DeploymentSettings(name: "../x", bmodel: "/nonexistent", tokenizer: "/nonexistent")
        #expect(throws: DeploymentSettingsError.self) { try bad.validateForInit(configFile: "tpudeploy.yaml") }
        #expect(DeploymentSettings.invalidValue(name: "ok", remoteDir: nil, port: 70000)
            == .invalidValue(key: "port", flag: "--engine-port", problem: "70000 is not a TCP port (1-65535)"))
    }
}
