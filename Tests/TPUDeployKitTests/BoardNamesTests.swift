import Foundation
import Testing
@testable import TPUDeployKit

/// The names and paths that may go to a board, and the message for those that may not.
@Suite struct BoardNamesTests {
    static let hostile = ["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "a;b", "a'b", "a\"b", "a\nb", "a b", "-rf", ".hidden",
                          "模型", "a$b", "a%b", "a\\b", ""]

    @Test func plainNamesAreAcceptedAndHostileOnesRefused() throws {
        for name in ["llama2-7b", "chatglm2_6b", "Qwen1.5", "7b"] { #expect(BoardNames.nameProblem(name) == nil, "\(name)") }
        for name in Self.hostile + [".", "..", String(repeating: "a", count: 65)] {
            #expect(BoardNames.nameProblem(name) != nil, "\(name)")
        }
        let error = #expect(throws: BoardNameError.self) { try BoardNames.validatedName("$(touch /tmp/pwned)", source: "--name") }
        #expect(error?.description == "--name '$(touch /tmp/pwned)' cannot name a deployment: it may hold only ASCII letters, digits, '-', '_' and '.'. Use a plain name such as llama2-7b (letters, digits, - _ .).")
    }

    @Test func directoriesAreAbsoluteNormalisedAndPlain() throws {
        #expect(try BoardNames.validatedDirectory("/data//tpudeploy/./x/", source: "--remote-dir") == "/data/tpudeploy/x")
        #expect(try BoardNames.validatedDirectory("/data/tpudeploy/llama2-7b_v1.5+q", source: "--remote-dir") == "/data/tpudeploy/llama2-7b_v1.5+q")
        // A leading '-' or '.' is harmless inside an absolute path; the rest is not allowed.
        for path in Self.hostile.filter { !["-rf", ".hidden", ""].contains($0) }.map { "/data/" + $0 } + ["data/x", "/", "//", "/data/../etc", "/data/x\n", "/data/x\t"] {
            #expect(throws: BoardNameError.self, "\(path)") { try BoardNames.validatedDirectory(path, source: "--remote-dir") }
        }
        // A newline is shown, not printed, so the message stays one line.
        let error = #expect(throws: BoardNameError.self) { try BoardNames.validatedDirectory("/data/x\ntouch y", source: "remote_dir") }
        #expect(error?.description.contains("'/data/x\\u{a}touch y'") == true)
        #expect(error?.description.contains("no spaces, quotes, $, ` or control characters") == true)
    }

    @Test func fileNamesMayHoldAnythingButSlashesAndControlCharacters() {
        for name in ["m.bmodel", "$(touch x).bmodel", "a b", "模型.bmodel", "-n"] { #expect(BoardNames.fileNameProblem(name) == nil, "\(name)") }
        for name in ["a/b", "a\nb", "a\u{7f}", ".", "..", ""] { #expect(BoardNames.fileNameProblem(name) != nil, "\(name)") }
    }

    @Test func aConfigWithAHostileRemoteDirectoryIsRefusedNamingTheKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-names-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tpudeploy.yaml").path
        try LocalFile.write(Array("deployment:\n  name: x\n  bmodel: m\n  tokenizer: t\n  remote_dir: \"/data/$(touch /tmp/pwned)\"\n".utf8), to: file)
        let error = #expect(throws: YAMLFileError.self) { try ProjectConfig.load(from: file) }
        #expect(error?.description.contains("remote_dir") == true)
        #expect(error?.description.contains("cannot be the deployment's directory on the board") == true)
        try LocalFile.write(Array("deployment:\n  name: x\n  bmodel: m\n  tokenizer: t\n  remote_dir: /data//x/\n".utf8), to: file)
        #expect(try ProjectConfig.load(from: file)?.deployment?.remoteDir == "/data/x")
    }
}
