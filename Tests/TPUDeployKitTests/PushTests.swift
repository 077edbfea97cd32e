import Foundation
import Testing
@testable import TPUDeployKit

/// A sentencepiece ModelProto with `count` pieces (field 1, each a message with the piece text and a score)
/// and a trainer spec (field 2), encoded by hand as the protobuf wire format defines.
func sentencePieceModel(pieces count: Int) -> [UInt8] {
    func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value), out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }
    var bytes: [UInt8] = []
    for index in 0..<count {
        let text = Array("▁p\(index)".utf8)
        var piece: [UInt8] = [0x0A] + varint(text.count) + text
        piece += [0x15, 0, 0, 0x80, 0xBF]  // field 2 (score), fixed32 -1.0
        bytes += [0x0A] + varint(piece.count) + piece
    }
    let trainer: [UInt8] = [0x20] + varint(count)  // trainer_spec.vocab_size (field 4, varint)
    bytes += [0x12] + varint(trainer.count) + trainer
    return bytes
}

@Suite struct PushPureTests {
    @Test func countsSentencePiecePieces() {
        #expect(SentencePieceModel.pieceCount(sentencePieceModel(pieces: 300)) == 300)
        #expect(SentencePieceModel.pieceCount(Array("{\"model\": {}}".utf8)) == nil)
        #expect(SentencePieceModel.pieceCount([]) == nil)
    }

    @Test func tokenizerPairingUsesTheEmbeddingTableOfTheModel() throws {
        // tiny-chatglm2: embedding weights 532 676 608 bytes = 65 024 rows × 4096 × fp16, like ChatGLM2-6B.
        let model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        let pairing = try TokenizerPairing.check(pieces: 64789, family: "chatglm2", model: model, tokenizerName: "tokenizer.model", modelName: "m")
        #expect(pairing.verdict == .matches)
        #expect(pairing.modelRows == 65024)
        #expect(pairing.source == "embedding_weights")
        #expect(throws: PushError.self) {
            try TokenizerPairing.check(pieces: 32000, family: "llama2", model: model, tokenizerName: "llama.model", modelName: "m")
        }
        do {
            _ = try TokenizerPairing.check(pieces: 70000, family: nil, model: model, tokenizerName: "big.model", modelName: "m")
            Issue.record("a tokenizer larger than the table must be refused")
        } catch {
            #expect("\(error)".contains("only 65024 vocabulary rows"))
        }
    }

    @Test func tokenizerPairingReadsAnFP16TableBehindFP32Outputs() throws {
        // The 2023 seed repositories deploy the embedding with --quantize F16 and keep fp32 outputs: the same
        // table bytes (65 024 rows × 4096 × fp16) must still pair with ChatGLM2's tokenizer.
        var model = try BModel(contentsOf: BModelFixture.path("tiny-chatglm2.bmodel"))
        let embedding = try #require(model.nets.firstIndex { $0.name == "embedding" })
        for stage in model.nets[embedding].stages.indices {
            for output in model.nets[embedding].stages[stage].outputs.indices {
                model.nets[embedding].stages[stage].outputs[output].dataType = 0
            }
        }
        let pairing = try TokenizerPairing.check(pieces: 64789, family: "chatglm2", model: model, tokenizerName: "tokenizer.model", modelName: "m")
        #expect(pairing.verdict == .matches)
        #expect(pairing.modelRows == 65024)
        // Read as fp32 the same bytes would be 32 512 rows: a tokenizer that fits neither reading is refused.
        #expect(throws: PushError.self) {
            try TokenizerPairing.check(pieces: 40000, family: "llama2", model: model, tokenizerName: "other.model", modelName: "m")
        }
    }

    private func facts(heap: UInt64? = 4 << 30, free: UInt64 = 10 << 30, chip: String? = "BM1684X") -> BoardFacts {
        BoardFacts(target: "root@b", arch: "aarch64", chip: chip, boardProfile: "1684x_evb",
                   liveHeaps: heap.map { DeviceHeaps(npu: $0, vpp: nil, vpu: nil) }, freeBytes: free, remoteDir: "/data/tpudeploy/x")
    }

    @Test func preflightRefusesWithTheExactFixMemoryCommand() {
        let needs = ModelNeeds(name: "chatglm2-6b", fixMemoryArgument: "chatglm2-6b", chip: "BM1684X", totalBytes: 7270 << 20)
        do {
            _ = try PushPreflight.check(board: facts(), model: needs, bytesNeeded: 1)
            Issue.record("a 4 GiB heap must not take a 7270 MiB model")
        } catch {
            #expect("\(error)".contains("`tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b`"))
            #expect("\(error)".contains("it needs 7270 MiB of device memory and the runtime can use 4096 MiB (NPU 4096 MiB)"), "\(error)")
        }
        #expect(throws: PushError.wrongChip(model: "chatglm2-6b", modelChip: "BM1684X", boardChip: "BM1684")) {
            try PushPreflight.check(board: facts(heap: 8 << 30, chip: "BM1684"), model: needs, bytesNeeded: 1)
        }
        #expect(throws: PushError.notEnoughSpace(target: "root@b", directory: "/data/tpudeploy/x", freeBytes: 100, neededBytes: 200)) {
            try PushPreflight.check(board: facts(heap: 8 << 30, free: 100), model: needs, bytesNeeded: 200)
        }
        let warnings = try? PushPreflight.check(board: facts(heap: nil, chip: nil), model: needs, bytesNeeded: 1)
        #expect(warnings?.count == 2)
    }

    @Test func spaceNeededCountsWhatIsStillToSend() {
        #expect(PushPreflight.bytesNeeded(sizes: [100 << 20, 10 << 20], keptPrefixes: [40 << 20, 0]) == (70 << 20) + (64 << 10))
        #expect(PushPreflight.bytesNeeded(sizes: [5], keptPrefixes: [9]) == 64 << 10)
    }

    @Test func boardManifestSkipsOnlyExactMatchesStillOnTheBoard() {
        let entry = PayloadEntry(name: "m.bmodel", role: .bmodel, size: 10, sha256: "ab", mode: 0o644, localPath: "/x")
        var manifest = BoardManifest()
        manifest.record(entry)
        let reread = BoardManifest(text: manifest.jsonLine)
        #expect(reread == manifest)
        #expect(reread.holds(entry, sizeOnBoard: 10, changedSinceRecorded: false))
        #expect(!reread.holds(entry, sizeOnBoard: nil, changedSinceRecorded: false))
        #expect(!reread.holds(entry, sizeOnBoard: 9, changedSinceRecorded: false))
        // Same size, written on the board after the manifest: not the file that was checked.
        #expect(!reread.holds(entry, sizeOnBoard: 10, changedSinceRecorded: true))
        var changed = entry
        changed.sha256 = "cd"
        #expect(!reread.holds(changed, sizeOnBoard: 10, changedSinceRecorded: false))
        #expect(BoardManifest(text: "{garbage").files.isEmpty)
        #expect(!manifest.jsonLine.contains("\n"))
    }

    /// Logged in as root: the deployment directory must be root's alone; above it, a sticky directory (tmpfs's
    /// 1777) is fine, another user's or a plain world-writable one is not.
    @Test func rootWritesOnlyIntoDirectoriesNobodyElseControls() throws {
        let scripts = PushScripts(directory: "/data/x/tiny")
        func probe(_ owners: String, uid: Int = 0) throws -> PushScripts.ProbeResult {
            try scripts.parseProbe("@@arch aarch64\n@@uid \(uid)\n\(owners)@@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 100 0 100 0% /data\n@@end\n@@manifest\n", target: "b")
        }
        #expect(try probe("@@owner 0 755 root /data/x/tiny\n@@owner 0 1777 root /data/x\n").notRootsAlone == nil)
        #expect(try probe("@@owner 0 755 root /data/x\n").notRootsAlone == nil)
        #expect(try probe("@@owner 1000 755 linaro /data/x/tiny\n").notRootsAlone?.owner == "linaro")
        #expect(try probe("@@owner 0 1777 root /data/x/tiny\n").notRootsAlone?.path == "/data/x/tiny")
        #expect(try probe("@@owner 0 755 root /data/x/tiny\n@@owner 0 777 root /data/x\n").notRootsAlone?.path == "/data/x")
        #expect(try probe("@@owner 1000 755 linaro /data/x\n").notRootsAlone?.path == "/data/x")
        // Logged in as linaro, linaro's directories are its own business.
        #expect(try probe("@@owner 1000 755 linaro /data/x/tiny\n", uid: 1000).notRootsAlone == nil)
    }

    @Test func parsesTheProbe() throws {
        let scripts = PushScripts(directory: "/data/tpudeploy/x")
        let text = """
            @@arch aarch64
            @@df
            Filesystem     1024-blocks    Used Available Capacity Mounted on
            /dev/mmcblk0p5    10000000 1000000   9000000      10% /data
            @@end
            @@manifest_mtime 1700000000
            @@manifest {"files":{"a b":{"role":"tokenizer","sha256":"ff","size":3},"t.model":{"role":"tokenizer","sha256":"ee","size":4}},"schema":"tpudeploy.board-manifest/1"}
            @@file 3 - 1699999990 a b
            @@file - 1048576 - m.bmodel
            @@file 4 - 1700000001 t.model
            """
        let probe = try scripts.parseProbe(text, target: "b")
        #expect(probe.arch == "aarch64")
        #expect(probe.space.availableBytes == 9_000_000 * 1024)
        #expect(probe.manifest.files["a b"]?.sha256 == "ff")
        #expect(probe.sizes["a b"]?.final == 3 && probe.sizes["a b"]?.partial == nil)
        #expect(probe.sizes["m.bmodel"]?.partial == 1_048_576)
        // t.model was written a second after the manifest: changed on the board, not held whatever it records.
        #expect(probe.changedSinceManifest == ["t.model"])
        #expect(probe.holds(PayloadEntry(name: "a b", role: .tokenizer, size: 3, sha256: "ff", mode: 0o644, localPath: "/x")))
        #expect(!probe.holds(PayloadEntry(name: "t.model", role: .tokenizer, size: 4, sha256: "ee", mode: 0o644, localPath: "/x")))
        #expect(throws: PushError.self) { try scripts.parseProbe("@@error mkdir: Permission denied", target: "b") }
        #expect(scripts.partialPath("m.bmodel") == "/data/tpudeploy/x/m.bmodel.partial")
    }

    @Test func findsTheEngineForTheBoardsArchitecture() throws {
        let source = EngineSource.builds(payloadsDirectory: "/p", nativeBuild: "/b/tpu-llm-engine", hostArch: "x86_64")
        #expect(try source.path(forArch: "x86_64", exists: { $0 == "/b/tpu-llm-engine" }) == "/b/tpu-llm-engine")
        #expect(try source.path(forArch: "aarch64", exists: { $0 == "/p/aarch64/tpu-llm-engine" }) == "/p/aarch64/tpu-llm-engine")
        do {
            _ = try source.path(forArch: "aarch64", exists: { _ in false })
            Issue.record("a missing cross build must be reported")
        } catch {
            #expect("\(error)".contains("make cross"))
        }
        #expect(try EngineSource.none.path(forArch: "aarch64") == nil)
    }

    /// The board-side hash function gives sha256sum's digest with OpenSSL and, where OpenSSL is missing, without.
    @Test func theBoardsHashFunctionIsSHA256WithAndWithoutOpenSSL() throws {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        let noOpenSSL = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-no-openssl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: noOpenSSL, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: noOpenSSL) }
        for tool in ["sha256sum", "cut", "printf"] {
            try FileManager.default.createSymbolicLink(atPath: noOpenSSL.appendingPathComponent(tool).path, withDestinationPath: "/usr/bin/\(tool)")
        }
        #expect(!FileManager.default.fileExists(atPath: noOpenSSL.appendingPathComponent("openssl").path))
        for path in ["/usr/bin:/bin", noOpenSSL.path] {
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", PushScripts.hashFunction + "\nprintf abc | sha256_of"]
            shell.environment = ["PATH": path]
            let output = Pipe()
            shell.standardOutput = output
            try shell.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            shell.waitUntilExit()
            #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == abc, "PATH=\(path)")
        }
    }

    @Test func theLocalHashCacheIsUsedOnlyWhileTheFileIsUnchanged() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-hash-cache-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.bmodel").path
        try LocalFile.write(Array("first version".utf8), to: path)
        let cache = LocalHashCache(file: directory.appendingPathComponent("cache/file-hashes.json"))
        let real = try LocalFileHash.sha256(path)

        // Just written: too recent to be trusted, so not remembered.
        cache.remember(real, of: path, identity: try .init(path: path))
        #expect(cache.digest(of: path, identity: try .init(path: path)) == nil)

        // Ten seconds later it is remembered, and the manifest takes the digest from the cache without reading
        // the file (a planted digest shows which one was used).
        let planted = String(repeating: "0", count: 64)
        cache.remember(planted, of: path, identity: try .init(path: path), now: Date().addingTimeInterval(10))
        let source = PayloadManifest.Source(path: path, role: .bmodel)
        #expect(try PayloadManifest.build([source], cache: cache).entries.first?.sha256 == planted)
        #expect(try PayloadManifest.build([source]).entries.first?.sha256 == real)

        // Same size, modification time put back: the change time still tells, and the file is hashed again.
        var status = stat()
        #expect(stat(path, &status) == 0)
        try LocalFile.write(Array("other version".utf8), to: path)
        var times = [status.st_atim, status.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let changed = try PayloadManifest.build([source], cache: cache).entries.first?.sha256
        #expect(changed == (try LocalFileHash.sha256(path)))
        #expect(changed != planted && changed != real)

        // A file that is gone is forgotten the next time the cache is written.
        let gone = directory.appendingPathComponent("old.bmodel").path
        try LocalFile.write(Array("old".utf8), to: gone)
        cache.remember(real, of: gone, identity: try .init(path: gone), now: Date().addingTimeInterval(10))
        #expect(try String(contentsOf: cache.file, encoding: .utf8).contains("old.bmodel"))
        try FileManager.default.removeItem(atPath: gone)
        cache.remember(real, of: path, identity: try .init(path: path), now: Date().addingTimeInterval(10))
        #expect(!(try String(contentsOf: cache.file, encoding: .utf8).contains("old.bmodel")))
    }

    @Test func hashesLocalFilesAndPrefixes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("push-hash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try LocalFile.write(bytes, to: path)
        #expect(try LocalFileHash.sha256(path) == Digest.hex(Digest.sha256(bytes)))
        #expect(try LocalFileHash.sha256(path, prefix: 1 << 20) == Digest.hex(Digest.sha256(Array(bytes.prefix(1 << 20)))))
        let manifest = try PayloadManifest.build([.init(path: path, role: .engine, remoteName: "tpu-llm-engine")])
        #expect(manifest.entries.first?.mode == 0o755)
        #expect(manifest.entries.first?.size == 5 << 20)
        #expect(throws: PushError.self) { try PayloadManifest.build([.init(path: path, role: .bmodel), .init(path: path, role: .support)]) }
    }

    @Test func readsTheDeploymentSectionWithDefaultsAndNamesBadKeys() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "target:\n  host: 10.0.0.7\ndeployment:\n  name: glm\n  model: chatglm2-6b\n  bmodel: m.bmodel\n  tokenizer: t.model\n".write(toFile: path, atomically: true, encoding: .utf8)
        let config = try #require(try ProjectConfig.load(from: path))
        #expect(config.deployment == DeploymentSettings(name: "glm", model: "chatglm2-6b", bmodel: "m.bmodel", tokenizer: "t.model"))
        #expect(config.deployment?.remoteDir == "/data/tpudeploy/glm")
        #expect(config.deployment?.port == 8080)
        // What is written reads back the same.
        try config.write(header: "test")
        #expect(try ProjectConfig.load(from: path) == config)

        try "deployment:\n  name: glm\n  bmodel: m\n  tokenizer: t\n  port: 70000\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: YAMLFileError(file: path, key: "deployment.port", problem: "70000 is not a TCP port (1-65535)")) { try ProjectConfig.load(from: path) }
        try "deployment:\n  name: glm\n  bmodel: m\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try ProjectConfig.load(from: path)
            Issue.record("a missing tokenizer must be reported")
        } catch {
            #expect("\(error)".contains("deployment.tokenizer"))
        }
    }
}
