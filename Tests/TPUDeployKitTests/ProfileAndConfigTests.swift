import Foundation
import Testing
@testable import TPUDeployKit

/// The repository's own Profiles directory.
private let profiles = ProfileStore(directory: URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Profiles"))

private func temporaryFile(_ text: String, name: String = "tpudeploy.yaml") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct ProfileStoreTests {
    @Test func everyShippedProfileLoads() throws {
        #expect(profiles.boardNames.contains("1684x_evb"))
        for board in try profiles.boards() { #expect(!board.dtbFileNames.isEmpty) }
        for name in profiles.modelNames { #expect(try profiles.model(named: name).npuMemoryBytes > 0) }
    }

    @Test func theEVBIsFoundByItsDTB() throws {
        #expect(try profiles.board(booting: "bm1684x_evb_v0.0.dtb")?.name == "1684x_evb")
        #expect(try profiles.board(booting: "no_such_board.dtb") == nil)
    }

    @Test func anUnknownBoardListsTheKnownOnes() {
        #expect {
            try profiles.board(named: "1684x_evv")
        } throws: { error in
            "\(error)".contains("unknown board '1684x_evv'") && "\(error)".contains("1684x_evb")
        }
    }

    @Test func aBadValueNamesFileKeyAndAllowedValues() throws {
        let path = try temporaryFile("""
            name: x
            description: y
            family: gpt
            chip: BM1684X
            layers: 2
            seq_len: 8
            npu_memory_mib: 10
            """, name: "x.yaml")
        #expect {
            try ModelProfile(mapping: YAMLMapping(contentsOf: path))
        } throws: { error in
            let text = "\(error)"
            return text.contains(path) && text.contains("family") && text.contains("chatglm2, llama2, wizardcoder")
        }
    }

    @Test func aMisspeltKeyIsReported() throws {
        let path = try temporaryFile("name: b\ndescription: d\nchip: BM1684X\ndtb_file_name: [a.dtb]\nram: [16g]\n", name: "b.yaml")
        #expect {
            try BoardProfile(mapping: YAMLMapping(contentsOf: path))
        } throws: { error in
            "\(error)".contains("dtb_file_name: unknown key")
        }
    }
}

@Suite struct ProjectConfigTests {
    @Test func writesAndReadsBackTheTarget() throws {
        let path = try temporaryFile("")
        let settings = TargetSettings(host: "198.18.0.11", port: 2222, user: "root", identity: "/k/id ed25519",
                                      knownHosts: "/k/known_hosts", board: "1684x_evb")
        try ProjectConfig(target: settings, file: path).write(header: "test")
        #expect(try ProjectConfig.load(from: path)?.target == settings)
    }

    @Test func aMissingDefaultFileIsNoConfigurationAtAllButANamedOneIsAnError() throws {
        #expect(try ProjectConfig.load(from: "/nonexistent/tpudeploy.yaml", mustExist: false) == nil)
        let here = FileManager.default.currentDirectoryPath
        if !FileManager.default.fileExists(atPath: here + "/" + ProjectConfig.defaultFileName) {
            #expect(try ProjectConfig.load(from: ProjectConfig.defaultFileName) == nil)
        }
        #expect(throws: ProjectConfigError.missing(path: "/nonexistent/q.yaml")) { try ProjectConfig.load(from: "/nonexistent/q.yaml") }
    }

    @Test func aBadPortNamesTheKey() throws {
        let path = try temporaryFile("target:\n  host: a\n  port: 70000\n")
        #expect {
            try ProjectConfig.load(from: path)
        } throws: { error in
            "\(error)".contains("target.port")
        }
    }

    @Test func flagsOverrideTheFileAndAnotherHostDropsItsKeys() throws {
        let config = ProjectConfig(
            target: TargetSettings(host: "a", user: "root", identity: "/id", knownHosts: "/kh"), file: "t.yaml")
        let sameHost = try TargetOverrides(user: "linaro").resolve(with: config, configPath: "t.yaml")
        #expect(sameHost.target.user == "linaro")
        #expect(sameHost.target.identityFile == "/id")
        let otherHost = try TargetOverrides(host: "b").resolve(with: config, configPath: "t.yaml")
        #expect(otherHost.target.host == "b")
        #expect(otherHost.target.identityFile == nil)
    }

    /// A file written for fleets: login settings without a host. Fleet commands take them for every board; a
    /// single-board command says that a host is needed and how to give one.
    @Test func aTargetWithoutAHostServesFleetsAndSingleBoardCommandsAskForAHost() throws {
        let path = try temporaryFile("target:\n  user: root\n  identity: /k/id\n  known_hosts: /k/known_hosts\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let config = try #require(try ProjectConfig.load(from: path))
        #expect(config.target == TargetSettings(host: nil, user: "root", identity: "/k/id", knownHosts: "/k/known_hosts"))
        let defaults = FleetDefaults(config: config, user: nil, identity: nil, knownHosts: nil, sshConfig: nil,
                                     connectTimeout: 10, acceptNewHostKey: false, deployment: nil)
        #expect(defaults.user == "root" && defaults.identity == "/k/id" && defaults.knownHosts == "/k/known_hosts")
        #expect {
            try TargetOverrides().resolve(with: config, configPath: "tpudeploy.yaml")
        } throws: { error in
            (error as? TargetError) == .noTargetHost(configFile: "tpudeploy.yaml")
                && "\(error)".contains("no target.host") && "\(error)".contains("--host ADDRESS")
        }
        // --host names the board; the host-less file's keys are not taken for it (as for a file naming another host).
        let named = try TargetOverrides(host: "192.0.2.7").resolve(with: config, configPath: "tpudeploy.yaml")
        #expect(named.target.host == "192.0.2.7" && named.target.identityFile == nil)
        // Written back, it stays host-less.
        try config.write(header: "test")
        #expect(try ProjectConfig.load(from: path)?.target == config.target)
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains("host:"))
    }

    @Test func noTargetAnywhereSaysHowToNameOne() {
        #expect {
            try TargetOverrides().resolve(with: nil, configPath: "tpudeploy.yaml")
        } throws: { error in
            "\(error)".contains("--host") && "\(error)".contains("tpudeploy init")
        }
    }
}

@Suite struct BoardPresetTests {
    @Test func presetsAndTheModelPolicyAreRead() throws {
        let evb = try profiles.board(named: "1684x_evb")
        #expect(try evb.preset("llm") == HeapSizes(npu: .mebibytes(7168), vpu: .mebibytes(1024), vpp: .mebibytes(2048)))
        #expect(evb.minimumLinuxMiB == 2048)
        let chatglm = try profiles.model(named: "chatglm2-6b")
        #expect(evb.modelPolicy.heaps(forModelNeeding: chatglm.npuMemoryBytes).npu == .mebibytes(6453 + 256))
    }

    @Test func maxMeansTheBoardsOwnMaximum() throws {
        let sm7m = try profiles.board(named: "sm7m")
        let llm = try sm7m.preset("llm")
        #expect(llm.npu == .maximum)
        #expect(llm.npu.resolved(maximum: 3515) == 3515)
        #expect(llm.vpu.resolved(maximum: 3000) == 1024)
    }

    @Test func anUnknownPresetListsTheKnownOnes() throws {
        let evb = try profiles.board(named: "1684x_evb")
        #expect {
            try evb.preset("fast")
        } throws: { error in
            "\(error)".contains("no preset 'fast'") && "\(error)".contains("factory, llm")
        }
    }
}
