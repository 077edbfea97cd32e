import Foundation
import Testing
import TPUDeployKit
import TPUDeploySimulator

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let profiles = ProfileStore(directory: repositoryRoot.appendingPathComponent("Profiles"))

/// Payload files for push tests: a small but real bmodel (the tiny-chatglm2 JSON source with its weights scaled
/// down to a few MiB, compiled by flatc and packed with random weights and their check codes), a sentencepiece
/// tokenizer whose piece count fits its embedding table, an engine file with an ELF header for this host, and
/// random support files.
struct PushPayload {
    let directory: URL
    var bmodel: String { directory.appendingPathComponent("tiny.bmodel").path }
    var tokenizer: String { directory.appendingPathComponent("tokenizer.model").path }
    var engine: String { directory.appendingPathComponent("engine.bin").path }
    var big: String { directory.appendingPathComponent("weights-extra.bin").path }

    /// `rows` vocabulary rows of 4096 fp16 values, each weight range with its real sha256 check code; a tokenizer
    /// of `rows` pieces (no profile: no special tokens); an engine with this host's ELF header.
    init(rows: Int = 256, chip: String = "BM1684X", bigMiB: Int = 0) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-push-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let source = repositoryRoot.appendingPathComponent("Tests/Fixtures/bmodel/tiny-chatglm2.json")
        var model = try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any] ?? [:]
        let embedding = rows * 4096 * 2, block = 1 << 20, head = 1 << 20
        let ranges: [String: (Int, Int)] = ["embedding": (0, embedding), "block_0": (embedding, block), "block_cache_0": (embedding, block), "lm_head": (embedding + block, head)]
        let blob = embedding + block + head
        let weights = Self.random(blob)
        model["chip"] = chip
        model["neuron_size"] = 16 << 20
        model["net"] = (model["net"] as? [[String: Any]] ?? []).map { net in
            var net = net
            let range = ranges[net["name"] as? String ?? ""] ?? (0, 0)
            net["parameter"] = (net["parameter"] as? [[String: Any]] ?? []).map { parameter in
                var parameter = parameter
                var memory = parameter["coeff_mem"] as? [String: Any] ?? [:]
                memory["binary_coeff"] = ["start": range.0, "size": range.1]
                // The real check code, as tpu-mlir writes it: the sha256 of the range's bytes.
                memory["check_code"] = Digest.sha256(Array(weights[range.0..<(range.0 + range.1)])).map(Int.init)
                parameter["coeff_mem"] = memory
                return parameter
            }
            return net
        }
        let json = directory.appendingPathComponent("tiny.json")
        try JSONSerialization.data(withJSONObject: model).write(to: json)
        try SimulatedBoardHarness.run("/usr/bin/flatc", ["-b", "-o", directory.path,
                                                         repositoryRoot.appendingPathComponent("Tests/Fixtures/bmodel/bmodel.fbs").path, json.path])
        let flatBuffers = try Array(Data(contentsOf: directory.appendingPathComponent("tiny.bin")))
        var header = [UInt8](repeating: 0, count: 64)
        for (index, value) in [UInt32(0xFF55_AAEE), 64, UInt32(flatBuffers.count), UInt32(blob)].enumerated() {
            withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(index * 4..<(index * 4 + 4), with: $0) }
        }
        try LocalFile.write(header + flatBuffers + weights, to: bmodel)
        try LocalFile.write(sentencePieceTokenizer(pieces: rows), to: tokenizer)
        try LocalFile.write(Self.elfHeader(machine: Self.hostMachine) + Self.random(3 << 20), to: engine)
        if bigMiB > 0 { try LocalFile.write(Self.random(bigMiB << 20), to: big) }
    }

    /// e_machine of this host's executables (the simulated boards run the host's architecture).
    static var hostMachine: UInt16 { ELFHeader.expected(forUnameMachine: EngineSource.hostArch)?.machine ?? 62 }

    /// The 64-byte header of a little-endian ELF64 executable for `machine` (183 aarch64, 62 x86-64).
    static func elfHeader(machine: UInt16) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 64)
        header.replaceSubrange(0..<7, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1])
        header[16] = 2  // ET_EXEC
        header[18] = UInt8(machine & 0xFF)
        header[19] = UInt8(machine >> 8)
        return header
    }

    static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            let words = buffer.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = generator.next() }
        }
        return bytes
    }

    func request(remoteDir: String, support: [String] = [], profile: ModelProfile? = nil, tokenizer: String? = nil) -> PushRequest {
        PushRequest(bmodel: bmodel, tokenizer: tokenizer ?? self.tokenizer, engine: .file(engine), support: support,
                    remoteDir: remoteDir, profile: profile)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// A sentencepiece ModelProto with `pieces` pieces, encoded by hand (field 1 repeated).
func sentencePieceTokenizer(pieces: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    for index in 0..<pieces {
        let text = Array("p\(index)".utf8)
        let piece: [UInt8] = [0x0A, UInt8(text.count)] + text
        bytes += [0x0A, UInt8(piece.count)] + piece
    }
    return bytes
}

private func boardSHA(_ board: SimulatedBoard, _ path: String) throws -> String {
    try SimulatedBoardHarness.openSSH(board, "sha256sum \(path) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
}

private func localSHA(_ path: String) throws -> String { try LocalFileHash.sha256(path) }

private func connect(_ board: SimulatedBoard) async throws -> SSHSession {
    try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
}

/// Whether a push reported hashing, from its events (which arrive on the push's threads).
private final class HashingSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = false
    func set() { lock.lock(); seen = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return seen }
}

private func pusher(_ events: PushEvents? = nil) -> DeploymentPusher {
    DeploymentPusher(profiles: profiles, passwordProvider: nil, events: events)
}

/// The highest byte count reported so far, across threads.
final class HighestCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    func note(_ bytes: UInt64) { lock.lock(); value = max(value, bytes); lock.unlock() }
    var noted: UInt64 { lock.lock(); defer { lock.unlock() }; return value }
}

@Suite("push on simulated boards", .serialized, .hangGuard, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct PushIntegrationTests {
    @Test func pushesVerifiedFilesThenSkipsThemAll() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await connect(board)
            let result = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            #expect(result.status == .pushed)
            #expect(result.pairing?.verdict == .matches)
            #expect(result.files.map(\.action) == [.uploaded, .uploaded, .uploaded])
            // Nothing was on the board: each file was hashed here while it was sent, and on the board as it arrived.
            #expect(result.files.map(\.boardHash) == [.whileReceiving, .whileReceiving, .whileReceiving])
            #expect(try result.files.map(\.sha256) == [payload.bmodel, payload.tokenizer, payload.engine].map(localSHA))
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/tiny.bmodel") == localSHA(payload.bmodel))
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/tokenizer.model") == localSHA(payload.tokenizer))
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/tpu-llm-engine") == localSHA(payload.engine))
            #expect(try SimulatedBoardHarness.openSSH(board, "stat -c %a /data/tpudeploy/tiny/tpu-llm-engine").hasPrefix("755"))
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -a /data/tpudeploy/tiny | grep -c partial || true").hasPrefix("0"))

            let again = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            #expect(again.status == .upToDate)
            #expect(again.bytesSent == 0)
            await session.close()
        }
    }

    @Test func aDroppedConnectionResumesSendingOnlyASmallMargin() async throws {
        let payload = try PushPayload(bigMiB: 64)
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { harness, boards in
            let board = boards[0]
            let simulator = harness.simulator
            let dropped = FireOnce(), acknowledged = HighestCount()
            let cutting = pusher { event in
                if case .progress(let name, let done, let size, _, _) = event, name == "weights-extra.bin" {
                    acknowledged.note(done)
                    if done * 2 >= size, dropped.first() { _ = try? simulator.dropConnections(of: board.name) }
                }
            }
            let session = try await connect(board)
            await #expect {
                _ = try await cutting.push(payload.request(remoteDir: "/data/tpudeploy/tiny", support: [payload.big]), session: session)
            } throws: { error in
                guard case UploadError.connectionLost = error else { return false }
                return "\(error)".contains("resumes")
            }
            // Nothing half-written under the final name.
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/tpudeploy/tiny/weights-extra.bin && echo yes || echo no").hasPrefix("no"))

            let fresh = try await connect(board)
            let result = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny", support: [payload.big]), session: fresh)
            await fresh.close()
            let big = try #require(result.files.first { $0.name == "weights-extra.bin" })
            #expect(big.action == .resumed)
            #expect(big.resumedFromBytes > 0)
            // Re-sent beyond what the board had acknowledged: at most the 1 MiB resume granule.
            #expect(big.resumedFromBytes + (1 << 20) >= acknowledged.noted)
            #expect(big.bytesSent == big.sizeBytes - big.resumedFromBytes)
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/weights-extra.bin") == localSHA(payload.big))
            // The files verified before the cut were not sent again.
            #expect(result.files.filter { $0.action == .skipped }.count == 3)
        }
    }

    /// What Ctrl-C does in `tpudeploy push`: the upload stops after the requests in flight, the board keeps what
    /// it acknowledged under the temporary name, the connection stays usable, and the next push resumes.
    @Test func aCancelledPushKeepsWhatTheBoardHasAndTheNextOneResumes() async throws {
        let payload = try PushPayload(bigMiB: 32)
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let acknowledged = HighestCount()
            var cancelling = pusher { event in
                if case .progress(let name, let done, _, _, _) = event, name == "weights-extra.bin" { acknowledged.note(done) }
            }
            // Ctrl-C once 30 % of the big file is acknowledged.
            cancelling.cancelled = { acknowledged.noted * 10 >= UInt64(32 << 20) * 3 }
            let request = payload.request(remoteDir: "/data/tpudeploy/tiny", support: [payload.big])
            let session = try await connect(board)
            await #expect {
                _ = try await cancelling.push(request, session: session)
            } throws: { error in
                guard case UploadError.cancelled = error else { return false }
                return true
            }
            // The session was not torn down by the cancellation.
            #expect(try await session.run("echo alive", timeout: 10).stdoutText.hasPrefix("alive"))
            await session.close()
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/tpudeploy/tiny/weights-extra.bin && echo yes || echo no").hasPrefix("no"))
            let kept = UInt64(try SimulatedBoardHarness.openSSH(board, "stat -c %s /data/tpudeploy/tiny/weights-extra.bin.partial")
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(kept > 0 && kept < 32 << 20, "the board kept \(kept) bytes")

            let fresh = try await connect(board)
            let result = try await pusher().push(request, session: fresh)
            await fresh.close()
            let big = try #require(result.files.first { $0.name == "weights-extra.bin" })
            #expect(big.action == .resumed)
            #expect(big.resumedFromBytes > 0 && big.resumedFromBytes <= kept)
            #expect(big.resumedFromBytes + (1 << 20) >= acknowledged.noted)
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/weights-extra.bin") == localSHA(payload.big))
        }
    }

    @Test func aFullDiskIsRefusedBeforeAnythingIsSent() async throws {
        let payload = try PushPayload(bigMiB: 16)
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // A small file system of its own for the deployment (the board's /data when mounting is not allowed).
            try SimulatedBoardHarness.openSSH(board, "mkdir -p /data/small && (mount -t tmpfs -o size=48m tpd-small /data/small 2>/dev/null || true)")
            let free = "$(( $(df -Pk /data/small | awk 'NR==2{print $4}') * 1024"
            // Leave 8 MiB free: less than the 24 MiB payload.
            try SimulatedBoardHarness.openSSH(board, "fallocate -l \(free) - 8388608 )) /data/small/filler")
            let session = try await connect(board)
            await #expect {
                _ = try await pusher().push(payload.request(remoteDir: "/data/small/tiny", support: [payload.big]), session: session)
            } throws: { error in
                guard case PushError.notEnoughSpace = error else { return false }
                return "\(error)".contains("Nothing was sent")
            }
            // Refused before a byte moved: not even the directory was made.
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/small/tiny && echo exists || echo absent") == "absent\n")

            // Space that vanishes during the upload (another writer) is reported as a full disk too.
            try SimulatedBoardHarness.openSSH(board, "rm -f /data/small/filler")
            let filled = FireOnce()
            let filling = pusher { event in
                if case .progress(let name, let done, let size, _, _) = event, name == "weights-extra.bin", done * 2 >= size, filled.first() {
                    _ = try? SimulatedBoardHarness.openSSH(board, "fallocate -l \(free) )) /data/small/filler")
                }
            }
            await #expect {
                _ = try await filling.push(payload.request(remoteDir: "/data/small/tiny", support: [payload.big]), session: session)
            } throws: { error in
                guard case UploadError.noSpace = error else { return false }
                return "\(error)".contains("is full")
            }
            #expect(try SimulatedBoardHarness.openSSH(board, "test -e /data/small/tiny/weights-extra.bin && echo yes || echo no").hasPrefix("no"))
            await session.close()
            _ = try? SimulatedBoardHarness.openSSH(board, "rm -f /data/small/filler; umount /data/small 2>/dev/null || true")
        }
    }

    @Test func aCorruptedByteOnTheBoardIsCaughtAndTheFileSentAgain() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let corrupted = FireOnce()
            let corrupting = pusher { event in
                if case .verifying(let name, let partial) = event, name == "tiny.bmodel", corrupted.first() {
                    _ = try? SimulatedBoardHarness.openSSH(board, "printf '\\001' | dd of=\(partial) bs=1 seek=100000 conv=notrunc 2>/dev/null")
                }
            }
            let session = try await connect(board)
            let result = try await corrupting.push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            await session.close()
            let file = try #require(result.files.first { $0.name == "tiny.bmodel" })
            #expect(file.resends == 1)
            #expect(file.bytesSent == 2 * file.sizeBytes)
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/tiny.bmodel") == localSHA(payload.bmodel))
        }
    }

    @Test func preflightRefusesAModelTheBoardCannotHold() async throws {
        let payload = try PushPayload()
        let otherChip = try PushPayload(chip: "BM1684")
        defer { payload.remove(); otherChip.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let session = try await connect(board)
            // llama2-13b's profile needs 13216 MiB; the factory 16 GB EVB's heaps hold 9069 MiB together (a layout
            // of this board can hold it, so the answer is fix-memory, not "no layout").
            let hashed = HashingSeen()
            let watching = pusher { event in
                if case .hashing = event { hashed.set() }
                if case .step(let text) = event, text.contains("hashing") { hashed.set() }
            }
            await #expect {
                _ = try await watching.push(payload.request(remoteDir: "/data/tpudeploy/glm", profile: try profiles.model(named: "llama2-13b")), session: session)
            } throws: { error in
                guard case PushError.modelCannotLoad = error else { return false }
                return "\(error)".contains("`tpudeploy fix-memory --board 1684x_evb --for-model llama2-13b`")
                    && "\(error)".contains("it needs 13216 MiB of device memory and the runtime can use 9069 MiB (NPU 3950 MiB, VPP 3072 MiB, VPU 2047 MiB)")
            }
            // Refused before a byte of the model was read for hashing.
            #expect(!hashed.value)
            await #expect {
                _ = try await pusher().push(otherChip.request(remoteDir: "/data/tpudeploy/glm"), session: session)
            } throws: { error in
                guard case PushError.wrongChip(_, "BM1684", "BM1684X") = error else { return false }
                return true
            }
            // A tokenizer of another model: 32 000 pieces against a 256-row table.
            let wrong = payload.directory.appendingPathComponent("llama-tokenizer.model").path
            try LocalFile.write(sentencePieceTokenizer(pieces: 32000), to: wrong)
            await #expect {
                _ = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/glm", tokenizer: wrong), session: session)
            } throws: { error in
                guard case PushError.tokenizerMismatch = error else { return false }
                return "\(error)".contains("only 256 vocabulary rows")
            }
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy/glm 2>/dev/null | wc -l").hasPrefix("0"))
            await session.close()
        }
    }

    @Test func aSecondPushIntoTheSameDirectoryIsToldWhoIsPushingAndOthersGoOn() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // A push in progress: its session holds the directory's lock, as the pusher takes it.
            let first = try await connect(board)
            let held = try await first.take(.deploymentDirectory("/data/tpudeploy/tiny", command: "push"), protecting: "/data/tpudeploy/tiny")
            #expect(held.outcome == .locked)
            let second = try await connect(board)
            await #expect {
                _ = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: second)
            } throws: { error in
                guard let busy = error as? BoardBusyError, let pid = busy.holder.flatMap(BoardBusyError.boardPID) else { return false }
                // The pid it names is the board-side holder, alive, as the message tells the user to kill it.
                let alive = (try? SimulatedBoardHarness.openSSH(board, "kill -0 \(pid) && echo alive")) ?? ""
                return busy.what == "/data/tpudeploy/tiny" && busy.holder?.hasPrefix("tpudeploy push from ") == true && alive.hasPrefix("alive")
            }
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy/tiny 2>/dev/null | wc -l").hasPrefix("0"))
            // Another directory is another lock; and the pusher frees its own when done, so one session pushes twice.
            let elsewhere = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/other"), session: second)
            #expect(elsewhere.status == .pushed)
            #expect(try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/other"), session: second).status == .upToDate)
            // The first session ends (closed, crashed or cut): the lock goes with it.
            await first.close()
            let after = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: second)
            #expect(after.status == .pushed)
            await second.close()
        }
    }

    @Test func withoutABoardLockThePushGoesOnWarnsAndReadsTheFilesBack() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            _ = try SimulatedBoardHarness.openSSH(board, "rm -rf /run/lock")
            let session = try await connect(board)
            let result = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            await session.close()
            #expect(result.status == .pushed)
            #expect(result.warnings.contains { $0.hasPrefix("pushed without a board lock (no writable lock directory") }, "\(result.warnings)")
            // Another writer could have been at the partial files: the hashes taken while they arrived are not trusted.
            #expect(result.files.map(\.boardHash) == [.readBack, .readBack, .readBack])
            #expect(try boardSHA(board, "/data/tpudeploy/tiny/tiny.bmodel") == localSHA(payload.bmodel))
        }
    }

    @Test func aFileThatCannotBePutInPlaceIsNamedAndNotRecorded() async throws {
        let payload = try PushPayload()
        defer { payload.remove() }
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            // A directory where the tokenizer should go: the rename must fail, not move the file into it.
            _ = try SimulatedBoardHarness.openSSH(board, "mkdir -p /data/tpudeploy/tiny/tokenizer.model/x")
            let session = try await connect(board)
            await #expect {
                _ = try await pusher().push(payload.request(remoteDir: "/data/tpudeploy/tiny"), session: session)
            } throws: { error in
                guard case PushError.remoteCommandFailed(_, let what, let output) = error else { return false }
                return what == "installing tokenizer.model" && output.contains("cannot put")
            }
            await session.close()
            #expect(try SimulatedBoardHarness.openSSH(board, "ls -A /data/tpudeploy/tiny/tokenizer.model") == "x\n")
            let manifest = try SimulatedBoardHarness.openSSH(board, "cat /data/tpudeploy/tiny/.tpudeploy-manifest.json 2>/dev/null || true")
            #expect(!manifest.contains("tokenizer.model"), "\(manifest)")
        }
    }
}
