import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two engines on one simulated board share its heaps as on a real one: the second sees the first one's use,
/// and a killed engine's memory comes back (the kernel frees a dead process's ion buffers).
@Suite(.hangGuard)
struct SharedHeapTests {
    /// A board's state directory, as TPU_SIM_STATE_DIR names it; removed afterwards.
    final class Board {
        let directory: URL
        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-sim-board-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: directory) }

        /// What the board's debugfs alloc_mem shows for the NPU heap.
        func npuUsed() throws -> UInt64 {
            let text = try String(contentsOf: directory.appendingPathComponent("heap-used/npu"), encoding: .utf8)
            return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? UInt64.max
        }
    }

    /// `tpu-llm-engine serve` on the llama2 sim model, holding its memory until killed.
    final class HoldingEngine {
        let process = Process()
        let log: URL
        init(board: Board, npuHeapBytes: UInt64) throws {
            let model = try EngineTestSupport.simModel("llama2-sim")
            process.executableURL = EngineTestSupport.engineExecutable
            process.arguments = ["serve", "--model", model.appendingPathComponent("llama2-sim.bmodel").path,
                                 "--tokenizer", model.appendingPathComponent("tokenizer.model").path,
                                 "--runtime-dir", try EngineTestSupport.simRuntimeDirectory().path, "--port", "0", "--exit-on-failure"]
            process.environment = EngineTestSupport.childEnvironment(
                ["TPU_SIM_STATE_DIR": board.directory.path, "TPU_SIM_NPU_HEAP_BYTES": "\(npuHeapBytes)"])
            log = board.directory.appendingPathComponent("serve-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// Waits for the server's "loaded …" line (it holds the model's memory from then on). It sleeps as a task,
        /// so that it holds none of the two threads that all tests share on a two-core machine.
        func waitUntilLoaded() async throws {
            let deadline = Date().addingTimeInterval(300)
            while Date() < deadline {
                let text = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
                if text.contains("\nloaded ") || text.hasPrefix("loaded ") { return }
                guard process.isRunning else { break }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            throw EngineTestSupport.MissingPrerequisite(description: "serve did not load: \(String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self))")
        }

        /// SIGKILL: no destructor runs, so nothing of the runtime frees its share on the way out.
        func kill() {
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        deinit { kill() }
    }

    /// A one-shot `generate` on the same board: loads the model, answers, frees it all.
    private func generate(on board: Board, npuHeapBytes: UInt64) async throws -> EngineTestSupport.ProcessOutcome {
        let model = try EngineTestSupport.simModel("llama2-sim")
        return try await EngineTestSupport.run(
            EngineTestSupport.engineExecutable,
            ["generate", "--model", model.appendingPathComponent("llama2-sim.bmodel").path,
             "--tokenizer", model.appendingPathComponent("tokenizer.model").path,
             "--runtime-dir", try EngineTestSupport.simRuntimeDirectory().path, "--prompt", "Hello", "--max-tokens", "4"],
            environment: ["TPU_SIM_STATE_DIR": board.directory.path, "TPU_SIM_NPU_HEAP_BYTES": "\(npuHeapBytes)"])
    }

    @Test func aSecondEngineDoesNotFitBesideTheFirstUntilTheFirstIsKilled() async throws {
        // What one loaded engine holds (its 4608 MiB neuron block, the weights, the KV cache), on a far larger
        // heap. Nothing is allocated for a neuron block, so this costs no host memory.
        let large: UInt64 = 64 << 30
        let measuring = try Board()
        let first = try HoldingEngine(board: measuring, npuHeapBytes: large)
        try await first.waitUntilLoaded()
        let held = try measuring.npuUsed()
        #expect(held > 0)
        // Killed: its share is dropped by the next process that looks, which then leaves the heap empty.
        first.kill()
        let alone = try await generate(on: measuring, npuHeapBytes: large)
        #expect(alone.status == 0, "\(alone.standardError)")
        #expect(try measuring.npuUsed() == 0)

        // A heap that holds one engine but not two.
        let heap = held + held / 2
        let board = try Board()
        let holder = try HoldingEngine(board: board, npuHeapBytes: heap)
        try await holder.waitUntilLoaded()
        #expect(try board.npuUsed() == held)
        let refused = try await generate(on: board, npuHeapBytes: heap)
        #expect(refused.status != 0)
        #expect((refused.standardOutput + refused.standardError).contains("alloc"))
        #expect(try board.npuUsed() == held, "the refused engine's partial load must be freed, the holder's kept")

        holder.kill()
        let after = try await generate(on: board, npuHeapBytes: heap)
        #expect(after.status == 0, "\(after.standardError)")
        #expect(try board.npuUsed() == 0)
    }
}
