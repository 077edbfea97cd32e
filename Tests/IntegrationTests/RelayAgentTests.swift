import Foundation
import Testing
@testable import TPUDeployKit

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let nativeAgent = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpu-relay-agent").path
private let crossAgent = repositoryRoot.appendingPathComponent("Payloads/aarch64/tpu-relay-agent").path
private let sysroot = repositoryRoot.appendingPathComponent("build/aarch64-sysroot").path

/// A relay agent run here, driven as the host drives it: lines and frames on its input, reports read from its
/// output on a thread of their own (tests must not block the cooperative pool on a task).
final class AgentProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    private let condition = NSCondition()
    private var lines: [String] = []
    private var ended = false

    init(_ command: [String], arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        Thread { [self] in
            var partial = Data()
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                partial += data
                while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: partial[partial.startIndex..<newline], as: UTF8.self)
                    partial = Data(partial[(newline + 1)...])
                    condition.lock(); lines.append(line); condition.broadcast(); condition.unlock()
                }
            }
            condition.lock(); ended = true; condition.broadcast(); condition.unlock()
        }.start()
    }

    /// The `count`th report (from the start) that `match` accepts; nil if the agent ends or 180 s pass first.
    func wait(count: Int = 1, for match: (RelayAgentLine) -> Bool) -> RelayAgentLine? {
        let deadline = Date().addingTimeInterval(180)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let matching = lines.map(RelayAgentLine.init).filter(match)
            if matching.count >= count { return matching[count - 1] }
            if ended || !condition.wait(until: deadline) { return nil }
        }
    }

    var reports: [String] { condition.lock(); defer { condition.unlock() }; return lines }

    func send(_ bytes: [UInt8]) { input.fileHandleForWriting.write(Data(bytes)) }
    func send(line: String) { send(Array((line + "\n").utf8)) }
    func frame(file: Int, offset: Int, _ bytes: ArraySlice<UInt8>) { send(Array("F \(file) \(offset) \(bytes.count)\n".utf8) + bytes) }
    func endInput() { try? input.fileHandleForWriting.close() }

    func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }
}

private func sha256(_ bytes: [UInt8]) -> String { Digest.hex(Digest.sha256(bytes)) }

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-relay-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("relay agent, run here", .serialized)
struct RelayAgentTests {
    /// A kept temporary file is resumed from its size rounded down to 1 MiB (its tail may be torn), the host is
    /// asked for the rest only, and the file is renamed into place with its mode once its hash matches.
    @Test func resumesAKeptPrefixAndInstallsOnlyAVerifiedFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = PushPayload.random(3 << 20 + 12345)
        // 2.5 MiB kept, the last half MiB of it torn (zeros): only the first 2 MiB may be trusted.
        try LocalFile.write(Array(data[0..<(2 << 20)]) + [UInt8](repeating: 0, count: 1 << 19), to: directory.appendingPathComponent("m.bin.partial").path)
        let agent = try AgentProcess([nativeAgent], arguments: [directory.path, "60", "0", "m.bin", String(data.count), sha256(data), "640", "0"])
        #expect(agent.wait { $0 == .kept(file: 0, bytes: 2 << 20) } != nil, "\(agent.reports)")
        agent.send(line: "K 0123456789abcdef0123")
        agent.send(line: "S")
        guard case .need(0, let offset) = agent.wait(for: { if case .need = $0 { return true }; return false }) else {
            Issue.record("no @@need: \(agent.reports)"); return
        }
        #expect(offset == 2 << 20)
        agent.frame(file: 0, offset: Int(offset), data[Int(offset)...])
        #expect(agent.wait { $0 == .installed(file: 0) } != nil, "\(agent.reports)")
        #expect(agent.wait { $0 == .done } != nil)
        agent.endInput()
        #expect(agent.waitForExit() == 0)
        let installed = try LocalFile.readPrefix(directory.appendingPathComponent("m.bin").path, count: data.count + 1).bytes
        #expect(installed == data)
        let mode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("m.bin").path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("m.bin.partial").path))
    }

    /// Bytes that do not hash to the expected sha256 are never renamed into place: received once more from the
    /// first byte, then the file is failed with `hash_mismatch`.
    @Test func aFileWhoseBytesDoNotMatchItsHashIsNeverInstalled() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = PushPayload.random(300_000)
        var wrong = data
        wrong[123_456] ^= 1
        let agent = try AgentProcess([nativeAgent], arguments: [directory.path, "60", "0", "m.bin", String(data.count), sha256(data), "644", "0"])
        agent.send(line: "K 0123456789abcdef0123")
        agent.send(line: "S")
        #expect(agent.wait { $0 == .need(file: 0, offset: 0) } != nil)
        agent.frame(file: 0, offset: 0, wrong[...])
        #expect(agent.wait { if case .mismatch(0, let got) = $0 { return got == sha256(wrong) }; return false } != nil, "\(agent.reports)")
        // Asked again from the first byte.
        #expect(agent.wait(count: 2) { $0 == .need(file: 0, offset: 0) } != nil, "\(agent.reports)")
        agent.frame(file: 0, offset: 0, wrong[...])
        #expect(agent.wait { if case .failed(0, "hash_mismatch", _) = $0 { return true }; return false } != nil, "\(agent.reports)")
        agent.endInput()
        #expect(agent.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("m.bin").path))
    }

    /// The agent serves only the distribution's files: another index is refused even with the right secret.
    @Test func servesNothingButTheDistributionsFiles() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = PushPayload.random(1000)
        try LocalFile.write(data, to: directory.appendingPathComponent("m.bin").path)
        let secret = "0123456789abcdef0123"
        let agent = try AgentProcess([nativeAgent], arguments: [directory.path, "60", "0", "m.bin", String(data.count), sha256(data), "644", "1"])
        guard case .ready(let port, _) = agent.wait(for: { if case .ready = $0 { return true }; return false }) else {
            Issue.record("not ready: \(agent.reports)"); return
        }
        agent.send(line: "K \(secret)")
        #expect(agent.wait { $0 == .keyed } != nil)
        #expect(agent.wait { $0 == .done } != nil, "a file the host says is there is not received again")
        #expect(RelayRequest.ask(address: "127.0.0.1", port: port, secret: secret, file: 0) == "OK 1000")
        #expect(RelayRequest.ask(address: "127.0.0.1", port: port, secret: secret, file: 1)?.hasPrefix("ERR") == true)
        #expect(RelayRequest.ask(address: "127.0.0.1", port: port, secret: "wrong-secret-wrong-secret", file: 0)?.hasPrefix("ERR") == true)
        agent.endInput()
        #expect(agent.waitForExit() == 0)
    }

    /// Left without traffic (the host vanished without closing its input), the agent exits by itself.
    @Test func exitsAfterItsIdleDeadline() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let agent = try AgentProcess([nativeAgent], arguments: [directory.path, "1", "0", "m.bin", "10", String(repeating: "0", count: 64), "644", "0"])
        #expect(agent.wait { if case .exit("idle", _) = $0 { return true }; return false } != nil, "\(agent.reports)")
        #expect(agent.waitForExit() == 4)
        agent.endInput()
    }

    /// The boards' build (make cross) does the same under qemu-user: receives, verifies, installs.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: crossAgent) && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-aarch64"),
                   "needs make cross and qemu-user"))
    func theAArch64BuildInstallsAVerifiedFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = PushPayload.random(2 << 20 + 7)
        let agent = try AgentProcess(["/usr/bin/qemu-aarch64", "-L", sysroot, crossAgent],
                                     arguments: [directory.path, "60", "0", "m.bin", String(data.count), sha256(data), "644", "0"])
        agent.send(line: "K 0123456789abcdef0123")
        agent.send(line: "S")
        #expect(agent.wait { $0 == .need(file: 0, offset: 0) } != nil, "\(agent.reports)")
        agent.frame(file: 0, offset: 0, data[...])
        #expect(agent.wait { $0 == .installed(file: 0) } != nil, "\(agent.reports)")
        agent.endInput()
        #expect(agent.waitForExit() == 0)
        #expect(try LocalFile.readPrefix(directory.appendingPathComponent("m.bin").path, count: data.count + 1).bytes == data)
    }
}
