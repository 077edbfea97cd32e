import Foundation
import TPURuntimeAPI
import Testing

extension InProcessRuntimeSuites {
    /// The simulated runtime (libTPUSimRuntime.so) through the engine's own door, `tpu_runtime_open`: the nets it
    /// reads from sim models, NPU heap accounting, bmlib memcpy semantics, launch checks, refusal of broken and
    /// compiled bmodels, and the block math against numpy on weights.npz.
    ///
    /// One test at a time with the other in-process runtime suites (InProcessRuntimeSuites): these tests set TPU_SIM_*.
    @Suite struct SimRuntimeTests {
        static let mib: UInt64 = 1 << 20

        // MARK: - Helpers

        struct SimRuntimeError: Error, CustomStringConvertible {
            let description: String
        }

        /// One opened runtime: the function table, a device handle and a bmrt instance, torn down on deinit.
        final class Session {
            var api = TPURuntime()
            var handle: bm_handle_t?
            var bmrt: UnsafeMutableRawPointer?
            let stateDirectory: URL

            /// Opens the runtime with these heaps (nil: no such heap; all nil: unlimited) in a fresh TPU_SIM_STATE_DIR.
            init(heapBytes: UInt64?, vppBytes: UInt64? = nil, vpuBytes: UInt64? = nil, freeNets: Bool = false) throws {
                stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-sim-state-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
                setenv("TPU_SIM_STATE_DIR", stateDirectory.path, 1)
                let heaps = ["TPU_SIM_NPU_HEAP_BYTES": heapBytes, "TPU_SIM_VPP_HEAP_BYTES": vppBytes, "TPU_SIM_VPU_HEAP_BYTES": vpuBytes]
                for (variable, bytes) in heaps {
                    if let bytes { setenv(variable, String(bytes), 1) } else { unsetenv(variable) }
                }
                if freeNets { setenv("TPU_SIM_FREE_NETS", "1", 1) } else { unsetenv("TPU_SIM_FREE_NETS") }
                defer {
                    for variable in heaps.keys { unsetenv(variable) }
                    unsetenv("TPU_SIM_FREE_NETS")
                }
                var error = [CChar](repeating: 0, count: 512)
                let directory = try EngineTestSupport.simRuntimeDirectory()
                guard tpu_runtime_open(directory.path, &api, &error, error.count) == 0 else {
                    throw SimRuntimeError(description: "tpu_runtime_open: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
                }
                guard api.dev_request!(&handle, 0) == BM_SUCCESS else { throw SimRuntimeError(description: "bm_dev_request failed") }
                bmrt = api.create!(handle)
                guard bmrt != nil else { throw SimRuntimeError(description: "bmrt_create failed") }
            }

            deinit {
                if let bmrt { api.destroy!(bmrt) }
                if let handle { api.dev_free!(handle) }
                tpu_runtime_close(&api)
                try? FileManager.default.removeItem(at: stateDirectory)
            }

            func load(_ path: String) -> Bool { api.load_bmodel!(bmrt, path) }

            /// The published used bytes of one heap (`<state dir>/heap-used/npu`, `vpp`, `vpu`).
            func publishedHeapUsedBytes(_ heap: String) throws -> UInt64 {
                let text = try String(contentsOf: stateDirectory.appendingPathComponent("heap-used/\(heap)"), encoding: .utf8)
                guard let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw SimRuntimeError(description: "heap-used/\(heap) holds \(text)")
                }
                return value
            }

            /// The published used bytes of all heaps together (`<state dir>/npu_used_bytes`).
            func publishedUsedBytes() throws -> UInt64 {
                let text = try String(contentsOf: stateDirectory.appendingPathComponent("npu_used_bytes"), encoding: .utf8)
                guard let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw SimRuntimeError(description: "npu_used_bytes holds \(text)")
                }
                return value
            }

            func info(_ net: String) throws -> bm_net_info_t {
                guard let info = api.get_network_info!(bmrt, net) else { throw SimRuntimeError(description: "no net \(net)") }
                return info.pointee
            }

            func allocate(_ bytes: Int) throws -> bm_device_mem_t {
                var memory = bm_device_mem_t()
                let status = api.malloc_device_byte!(handle, &memory, UInt32(bytes))
                guard status == BM_SUCCESS else { throw SimRuntimeError(description: "bm_malloc_device_byte(\(bytes)): \(status)") }
                return memory
            }

            func upload<T>(_ values: [T], to memory: bm_device_mem_t) throws {
                var copy = values
                let status = copy.withUnsafeMutableBytes { api.memcpy_s2d_partial!(handle, memory, $0.baseAddress, UInt32($0.count)) }
                guard status == BM_SUCCESS else { throw SimRuntimeError(description: "bm_memcpy_s2d_partial: \(status)") }
            }

            func download<T: Numeric>(_ count: Int, of: T.Type, from memory: bm_device_mem_t) throws -> [T] {
                var values = [T](repeating: 0, count: count)
                let status = values.withUnsafeMutableBytes { api.memcpy_d2s_partial!(handle, $0.baseAddress, memory, UInt32($0.count)) }
                guard status == BM_SUCCESS else { throw SimRuntimeError(description: "bm_memcpy_d2s_partial: \(status)") }
                return values
            }

            func tensor(_ memory: bm_device_mem_t, _ dtype: bm_data_type_t, _ shape: bm_shape_t) -> bm_tensor_t {
                var tensor = bm_tensor_t()
                api.tensor_with_device!(&tensor, memory, dtype, shape)
                return tensor
            }

            func launch(_ net: String, _ inputs: [bm_tensor_t], _ outputs: inout [bm_tensor_t], userMemory: Bool = true) -> Bool {
                api.launch_tensor_ex!(bmrt, net, inputs, Int32(inputs.count), &outputs, Int32(outputs.count), userMemory, false)
            }
        }

        static func dims(_ shape: bm_shape_t) -> [Int] {
            withUnsafeBytes(of: shape.dims) { Array($0.bindMemory(to: Int32.self).prefix(Int(shape.num_dims))).map(Int.init) }
        }

        static func shape(_ dims: [Int]) -> bm_shape_t {
            var shape = bm_shape_t()
            shape.num_dims = Int32(dims.count)
            withUnsafeMutableBytes(of: &shape.dims) { raw in
                for (index, dim) in dims.enumerated() { raw.storeBytes(of: Int32(dim), toByteOffset: index * 4, as: Int32.self) }
            }
            return shape
        }

        static func elementCount(_ shape: bm_shape_t) -> Int { dims(shape).reduce(1, *) }

        /// Runs `body` with this process's stdout and stderr going to two files, and returns what was written to
        /// each. The runtime prints its messages on stdout, as libsophon does; only the simulator's own remarks
        /// ("tpu-sim-runtime: ...") go to stderr.
        static func capturingStandardStreams<T>(_ body: () throws -> T) rethrows -> (T, standardOutput: String, standardError: String) {
            let folder = FileManager.default.temporaryDirectory
            let paths = [1, 2].map { folder.appendingPathComponent("sim-runtime-fd\($0)-\(UUID().uuidString)").path }
            fflush(nil)
            let saved = [dup(1), dup(2)]
            for (index, path) in paths.enumerated() {
                let file = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
                dup2(file, Int32(index + 1))
                close(file)
            }
            defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
            let result: T
            do {
                defer {
                    fflush(nil)
                    for (index, descriptor) in saved.enumerated() {
                        dup2(descriptor, Int32(index + 1))
                        close(descriptor)
                    }
                }
                result = try body()
            }
            let texts = paths.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
            return (result, texts[0], texts[1])
        }

        /// Runs `body` and returns everything the runtime printed meanwhile (stdout, then stderr).
        static func capturingRuntimeOutput<T>(_ body: () throws -> T) rethrows -> (T, String) {
            let (result, standardOutput, standardError) = try capturingStandardStreams(body)
            return (result, standardOutput + standardError)
        }

        /// The name of `capturingRuntimeOutput` from before the runtime printed on stdout (used by other suites).
        static func capturingStandardError<T>(_ body: () throws -> T) rethrows -> (T, String) {
            try capturingRuntimeOutput(body)
        }

        struct ModelJSON: Decodable {
            let family: String
            let layers: Int
            let heads: Int
            let kv_heads: Int
            let hidden: Int
            let head_dim: Int
            let ffn: Int
            let seq_len: Int
            let table_rows: Int
            let nets: [String]
        }

        static func model(_ name: String) throws -> (bmodel: String, directory: URL, json: ModelJSON) {
            let directory = try EngineTestSupport.simModel(name)
            let json = try JSONDecoder().decode(ModelJSON.self, from: Data(contentsOf: directory.appendingPathComponent("model.json")))
            return (directory.appendingPathComponent("\(name).bmodel").path, directory, json)
        }

        static let enoughHeap: UInt64 = 8000 * mib

        // MARK: - Nets as the file declares them

        @Test(arguments: ["chatglm2-sim", "llama2-sim"])
        func netsNamesShapesAndDtypesMatchTheFile(name: String) throws {
            let (bmodel, _, json) = try Self.model(name)
            let session = try Session(heapBytes: Self.enoughHeap)
            #expect(session.load(bmodel))
            #expect(Int(session.api.get_network_number!(session.bmrt)) == json.nets.count)
            var names: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            session.api.get_network_names!(session.bmrt, &names)
            let listed = (0..<json.nets.count).map { String(cString: names![$0]!) }
            free(names)
            #expect(listed == json.nets)

            let S = json.seq_len, H = json.hidden, KVH = json.kv_heads, D = json.head_dim
            let glm = json.family == "chatglm2"
            let states = { (n: Int) in glm ? [n, 1, H] : [1, n, H] }
            let kv = { (n: Int) in glm ? [n, 1, KVH, D] : [1, n, KVH, D] }
            let f32 = BM_FLOAT32, i32 = BM_INT32
            let expected: [String: (inputs: [(bm_data_type_t, [Int])], outputs: [(bm_data_type_t, [Int])])] = [
                "embedding": ([(i32, [1, S])], [(f32, states(S))]),
                "embedding_cache": ([(i32, [1, 1])], [(f32, states(1))]),
                "block_0": ([(f32, states(S)), (i32, [1, S]), (f32, [1, 1, S, S])], [(f32, states(S)), (f32, kv(S)), (f32, kv(S))]),
                "block_cache_\(json.layers - 1)": (
                    [(f32, [1, 1, H]), (i32, [1, 1]), (f32, [1, 1, 1, S + 1]), (f32, kv(S)), (f32, kv(S))],
                    [(f32, [1, 1, H]), (f32, kv(glm ? S : 1)), (f32, kv(glm ? S : 1))]),
                "lm_head": ([(f32, [1, H])], [glm ? (i32, [1, 1]) : (f32, [1, json.table_rows])]),
            ]
            for (net, tensors) in expected {
                let info = try session.info(net)
                #expect(String(cString: info.name) == net)
                #expect(info.stage_num == 1)
                #expect(!info.is_dynamic)
                #expect(Int(info.input_num) == tensors.inputs.count, "\(net) inputs")
                #expect(Int(info.output_num) == tensors.outputs.count, "\(net) outputs")
                guard Int(info.input_num) == tensors.inputs.count, Int(info.output_num) == tensors.outputs.count else { continue }
                for (index, (dtype, dims)) in tensors.inputs.enumerated() {
                    #expect(info.input_dtypes[index] == dtype, "\(net) input \(index) dtype")
                    #expect(Self.dims(info.stages[0].input_shapes[index]) == dims, "\(net) input \(index) shape")
                    #expect(info.input_scales[index] == 1)
                }
                for (index, (dtype, dims)) in tensors.outputs.enumerated() {
                    #expect(info.output_dtypes[index] == dtype, "\(net) output \(index) dtype")
                    #expect(Self.dims(info.stages[0].output_shapes[index]) == dims, "\(net) output \(index) shape")
                }
            }
            #expect(String(cString: try session.info("block_0").input_names[2]!) == "attention_mask")
            #expect(session.api.get_network_info!(session.bmrt, "no_such_net") == nil)
        }

        // MARK: - NPU heap accounting

        /// libbmrt allocates a model's weights first, then its neuron memory; each failure shows as libbmlib's
        /// line and then libbmrt's, on stdout (sophgo/libsophon bmlib_memory.cpp, bmruntime_bmodel.cpp, bmruntime.cpp).
        @Test func modelLargerThanTheHeapIsRefusedWithTheRuntimesOwnLines() throws {
            let (bmodel, _, _) = try Self.model("chatglm2-sim")
            var session: Session! = try Session(heapBytes: 3950 * Self.mib)
            let (loaded, output, errors) = Self.capturingStandardStreams { session.load(bmodel) }
            #expect(!loaded)
            // The neuron area (4608 MiB) does not fit once the weights (under 1 MiB) are in.
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.count == 2, "\(output)")
            #expect(lines.first == "[bmlib_memory][error] bm_alloc_gmem failed, dev_id = 0, size = 0x20000000", "\(output)")
            #expect(lines.last?.hasPrefix("[BMRT][must_alloc_device_mem_u64:") == true, "\(output)")
            #expect(lines.last?.hasSuffix("] FATAL:device mem alloc failed: size=4831838208[0x20000000] type_len=1 status=5 desc=neuron_mem0") == true, "\(output)")
            #expect(errors.isEmpty, "nothing on stderr: \(errors)")
            #expect(Int(session.api.get_network_number!(session.bmrt)) == 0)
            #expect(try session.publishedUsedBytes() == 0)
            session = nil  // handles on one device share it, and its heap size is read when the first one opens

            // A heap smaller than the first weights: the weights' allocation fails.
            let tiny = try Session(heapBytes: 4096)
            let (tinyLoaded, tinyOutput, _) = Self.capturingStandardStreams { tiny.load(bmodel) }
            #expect(!tinyLoaded)
            #expect(tinyOutput.contains("[bmlib_memory][error] bm_alloc_gmem failed, dev_id = 0, size = 0x"), "\(tinyOutput)")
            #expect(tinyOutput.contains("] FATAL:coeff alloc failed, size[0x"), "\(tinyOutput)")
            #expect(tinyOutput.contains("[BMRT][Register:"), "\(tinyOutput)")
        }

        @Test func loadAccountsNeuronAndCoefficientsAndPublishesThem() throws {
            let (bmodel, _, _) = try Self.model("llama2-sim")
            let session = try Session(heapBytes: 4700 * Self.mib)
            #expect(session.load(bmodel))
            let afterLoad = try session.publishedUsedBytes()
            let coefficientBytes = afterLoad - 4608 * Self.mib
            // The blob is deduplicated: blocks share coefficients with their cache nets, so the distinct ranges are
            // smaller than the file and larger than one block's weights.
            let fileSize = try FileManager.default.attributesOfItem(atPath: bmodel)[.size] as! UInt64
            #expect(coefficientBytes > 0 && coefficientBytes < fileSize)

            var stat = bm_dev_stat_t()
            #expect(session.api.get_stat!(session.handle, &stat) == BM_SUCCESS)
            #expect(stat.mem_total == 4700)
            #expect(stat.heap_num == 1)
            // libbmlib sums each heap's used bytes in whole MiB, rounded down.
            #expect(UInt64(stat.mem_used) == afterLoad / Self.mib)

            let memory = try session.allocate(Int(Self.mib))
            #expect(try session.publishedUsedBytes() == afterLoad + Self.mib)
            var tooBig = bm_device_mem_t()
            let (status, _) = Self.capturingRuntimeOutput { session.api.malloc_device_byte!(session.handle, &tooBig, UInt32(100 * Self.mib)) }
            #expect(status == BM_ERR_NOMEM)
            session.api.free_device!(session.handle, memory)
            #expect(try session.publishedUsedBytes() == afterLoad)

            // Another handle on the same device shares its heap: a second model does not fit beside the first.
            let otherModel = try Self.model("chatglm2-sim").bmodel
            let other = try Session(heapBytes: 4700 * Self.mib)
            let (second, log) = Self.capturingRuntimeOutput { other.load(otherModel) }
            #expect(!second)
            #expect(log.contains("FATAL:device mem alloc failed: size=4831838208"), "\(log)")
            session.api.destroy!(session.bmrt)
            session.bmrt = nil
            #expect(try session.publishedUsedBytes() == 0)
        }

        // MARK: - Heap mask 7: NPU, then VPP, then VPU

        /// libbmlib on SoC (bm_alloc_gmem): each allocation goes whole into the first heap with room, NPU → VPP → VPU;
        /// bm_get_stat and npu_used_bytes sum the three; each heap's use is published for inspect.
        @Test func allocationsSpillFromTheNPUHeapToVPPThenVPU() throws {
            let session = try Session(heapBytes: 10 * Self.mib, vppBytes: 8 * Self.mib, vpuBytes: 6 * Self.mib)
            let first = try session.allocate(Int(6 * Self.mib))   // NPU (4 MiB left)
            _ = try session.allocate(Int(6 * Self.mib))           // NPU too small now: VPP (2 MiB left)
            _ = try session.allocate(Int(6 * Self.mib))           // neither: VPU (0 left)
            _ = try session.allocate(Int(3 * Self.mib))           // back to the first heap with room: NPU (1 MiB left)
            #expect(try session.publishedHeapUsedBytes("npu") == 9 * Self.mib)
            #expect(try session.publishedHeapUsedBytes("vpp") == 6 * Self.mib)
            #expect(try session.publishedHeapUsedBytes("vpu") == 6 * Self.mib)
            #expect(try session.publishedUsedBytes() == 21 * Self.mib)
            // 3 MiB are free in all, but no one heap has 3 MiB: one allocation must fit inside one heap.
            var memory = bm_device_mem_t()
            let (status, log) = Self.capturingStandardError { session.api.malloc_device_byte!(session.handle, &memory, UInt32(3 * Self.mib)) }
            #expect(status == BM_ERR_NOMEM)
            #expect(log.contains("bm_alloc_gmem failed, dev_id = 0"), "\(log)")

            var stat = bm_dev_stat_t()
            #expect(session.api.get_stat!(session.handle, &stat) == BM_SUCCESS)
            #expect(stat.mem_total == 24 && stat.mem_used == 21 && stat.heap_num == 3)
            let heaps = withUnsafeBytes(of: stat.heap_stat) { Array($0.bindMemory(to: bm_heap_stat.self).prefix(3)) }
            #expect(heaps.map(\.mem_total) == [10, 8, 6])
            #expect(heaps.map(\.mem_used) == [9, 6, 6])
            #expect(heaps.map(\.mem_avail) == [1, 2, 0])

            session.api.free_device!(session.handle, first)
            #expect(try session.publishedHeapUsedBytes("npu") == 3 * Self.mib)
            #expect(try session.publishedUsedBytes() == 15 * Self.mib)
        }

        /// libbmlib tries the first heap_cnt of (npu, vpp, vpu): without a VPP heap it never reaches the VPU heap.
        @Test func withoutAVPPHeapTheVPUHeapIsNeverUsed() throws {
            let session = try Session(heapBytes: 10 * Self.mib, vpuBytes: 64 * Self.mib)
            _ = try session.allocate(Int(8 * Self.mib))
            var memory = bm_device_mem_t()
            let (status, _) = Self.capturingStandardError { session.api.malloc_device_byte!(session.handle, &memory, UInt32(4 * Self.mib)) }
            #expect(status == BM_ERR_NOMEM)
            #expect(try session.publishedHeapUsedBytes("vpu") == 0)
        }

        /// A model whose weights and neuron block need more than the NPU heap loads by spilling, as on SoC; one whose
        /// single neuron block is larger than every heap cannot load, however much they hold together.
        @Test func modelsSpillOrAreRefusedByTheirLargestAllocation() throws {
            let (bmodel, _, _) = try Self.model("llama2-sim")
            let spilling = try Session(heapBytes: 4608 * Self.mib + (512 << 10), vppBytes: 64 * Self.mib, vpuBytes: 64 * Self.mib)
            #expect(spilling.load(bmodel))
            let npu = try spilling.publishedHeapUsedBytes("npu"), vpp = try spilling.publishedHeapUsedBytes("vpp")
            #expect(npu >= 4608 * Self.mib && npu <= 4608 * Self.mib + (512 << 10))
            #expect(vpp > 0, "the coefficients that no longer fit the NPU heap went to VPP")
            #expect(npu + vpp == (try spilling.publishedUsedBytes()))
            spilling.api.destroy!(spilling.bmrt)
            spilling.bmrt = nil
            spilling.api.dev_free!(spilling.handle)
            spilling.handle = nil  // the device (and its heap sizes) goes away with its last handle

            let refused = try Session(heapBytes: 4000 * Self.mib, vppBytes: 4096 * Self.mib, vpuBytes: 3071 * Self.mib)
            let (loaded, log) = Self.capturingStandardError { refused.load(bmodel) }
            #expect(!loaded)
            #expect(log.contains("device mem alloc failed"), "\(log)")
            // libbmlib's line for the 4608 MiB neuron block (its 0x%x shows the low 32 bits of 0x120000000).
            #expect(log.contains("bm_alloc_gmem failed, dev_id = 0, size = 0x20000000"), "\(log)")
            #expect(try refused.publishedUsedBytes() == 0, "what the failed load had taken is given back")
        }

        // MARK: - bmlib memcpy

        @Test func memcpyWholePartialAndDeviceToDeviceOffsets() throws {
            let session = try Session(heapBytes: 64 * Self.mib)
            let a = try session.allocate(64), b = try session.allocate(64)
            #expect(a.size == 64)
            // Whole-descriptor copies move descriptor.size bytes.
            var bytes = (0..<64).map { UInt8($0) }
            #expect(session.api.memcpy_s2d!(session.handle, a, &bytes) == BM_SUCCESS)
            var back = [UInt8](repeating: 0, count: 64)
            #expect(session.api.memcpy_d2s!(session.handle, &back, a) == BM_SUCCESS)
            #expect(back == bytes)
            // Partial: only the first `size` bytes.
            var ones = [UInt8](repeating: 0xFF, count: 8)
            #expect(session.api.memcpy_s2d_partial!(session.handle, a, &ones, 8) == BM_SUCCESS)
            var head = [UInt8](repeating: 0, count: 12)
            #expect(session.api.memcpy_d2s_partial!(session.handle, &head, a, 12) == BM_SUCCESS)
            #expect(head == [UInt8](repeating: 0xFF, count: 8) + [8, 9, 10, 11])
            var large = [UInt8](repeating: 0, count: 65)
            _ = Self.capturingRuntimeOutput {
                #expect(session.api.memcpy_s2d_partial!(session.handle, a, &large, 65) != BM_SUCCESS)
                #expect(session.api.memcpy_d2s_partial!(session.handle, &large, a, 65) != BM_SUCCESS)
            }
            // d2d_byte: byte offsets on both sides.
            #expect(session.api.memcpy_d2d_byte!(session.handle, b, 10, a, 20, 6) == BM_SUCCESS)
            let copied: [UInt8] = try session.download(64, of: UInt8.self, from: b)
            #expect(Array(copied[10..<16]) == [20, 21, 22, 23, 24, 25])
            #expect(copied[9] == 0 && copied[16] == 0)
            // Past the allocation: refused, never a write into someone else's memory.
            _ = Self.capturingRuntimeOutput {
                #expect(session.api.memcpy_d2d_byte!(session.handle, b, 60, a, 0, 8) != BM_SUCCESS)
            }
            session.api.free_device!(session.handle, a)
            _ = Self.capturingRuntimeOutput {
                #expect(session.api.memcpy_d2s!(session.handle, &back, a) != BM_SUCCESS)
            }
            session.api.free_device!(session.handle, b)
        }

        // MARK: - Launch checks

        @Test func launchRefusesWrongShapesDtypesCountsAndMemory() throws {
            let (bmodel, _, json) = try Self.model("llama2-sim")
            let session = try Session(heapBytes: Self.enoughHeap)
            #expect(session.load(bmodel))
            let S = json.seq_len, H = json.hidden
            let ids = try session.allocate(S * 4), states = try session.allocate(S * H * 4), small = try session.allocate(16)
            let info = try session.info("embedding")
            var outputs = [session.tensor(states, BM_FLOAT32, info.stages[0].output_shapes[0])]
            #expect(session.launch("embedding", [session.tensor(ids, BM_INT32, info.stages[0].input_shapes[0])], &outputs))

            let (results, log) = Self.capturingRuntimeOutput { () -> [Bool] in
                [
                    session.launch("embedding", [session.tensor(ids, BM_INT32, Self.shape([1, S / 2]))], &outputs),
                    session.launch("embedding", [session.tensor(ids, BM_FLOAT32, Self.shape([1, S]))], &outputs),
                    session.launch("embedding", [], &outputs),
                    session.launch("no_such_net", [session.tensor(ids, BM_INT32, Self.shape([1, S]))], &outputs),
                    // Input memory smaller than the shape.
                    session.launch("embedding", [session.tensor(small, BM_INT32, Self.shape([1, S]))], &outputs),
                ]
            }
            #expect(results == [false, false, false, false, false])
            #expect(log.contains("net embedding: input 0 (input_ids) has shape [1, \(S / 2)], the net expects [1, \(S)]"), "\(log)")
            var tooSmallOutput = [session.tensor(small, BM_FLOAT32, Self.shape([4]))]
            let (refused, _) = Self.capturingRuntimeOutput {
                session.launch("embedding", [session.tensor(ids, BM_INT32, Self.shape([1, S]))], &tooSmallOutput)
            }
            #expect(!refused)
            // Out-of-table token ids are refused.
            try session.upload([Int32](repeating: Int32(json.table_rows), count: S), to: ids)
            let (outOfTable, _) = Self.capturingRuntimeOutput {
                session.launch("embedding", [session.tensor(ids, BM_INT32, Self.shape([1, S]))], &outputs)
            }
            #expect(!outOfTable)
        }

        // MARK: - Broken and compiled bmodels

        @Test func corruptAndTruncatedFilesAreRefusedWithoutCrashing() throws {
            let (bmodel, _, _) = try Self.model("chatglm2-sim")
            let original = try Data(contentsOf: URL(fileURLWithPath: bmodel))
            let flatBuffersSize = Int(original.withUnsafeBytes { $0.load(fromByteOffset: 8, as: UInt32.self) })
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sim-runtime-corrupt-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let session = try Session(heapBytes: Self.enoughHeap)

            var cases: [(String, Data, Bool?)] = []  // name, bytes, must load (nil: either, but no crash)
            for length in [0, 10, 64, 65, 200, 64 + flatBuffersSize / 2, 64 + flatBuffersSize - 1, original.count - 1] {
                cases.append(("truncated-\(length)", original.prefix(length), false))
            }
            var badMagic = original
            badMagic[0] = 0xFF
            cases.append(("bad-magic", badMagic, false))
            var hugeFlatBuffers = original
            hugeFlatBuffers.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0x7F])
            cases.append(("huge-flatbuffers-size", hugeFlatBuffers, false))
            var badRoot = original
            badRoot.replaceSubrange(64..<68, with: [0xF0, 0xFF, 0xFF, 0xFF])
            cases.append(("bad-root-offset", badRoot, false))
            // Random byte damage inside the FlatBuffers part: any outcome but a crash (a flip may hit a timestamp).
            var generator = SystemRandomNumberGenerator()
            for round in 0..<40 {
                var damaged = original
                for _ in 0..<4 {
                    let position = 64 + Int.random(in: 0..<flatBuffersSize, using: &generator)
                    damaged[position] = UInt8.random(in: 0...255, using: &generator)
                }
                cases.append(("damaged-\(round)", damaged, nil))
            }
            for (name, bytes, mustLoad) in cases {
                let path = folder.appendingPathComponent("\(name).bmodel").path
                try bytes.write(to: URL(fileURLWithPath: path))
                let fresh = try Session(heapBytes: Self.enoughHeap)
                let (loaded, _) = Self.capturingRuntimeOutput { fresh.load(path) }
                if let mustLoad { #expect(loaded == mustLoad, "\(name)") }
            }
            let (truncatedLoad, log) = Self.capturingRuntimeOutput { session.load(folder.appendingPathComponent("truncated-200.bmodel").path) }
            #expect(!truncatedLoad)
            #expect(log.contains("is broken"), "\(log)")
            #expect(log.hasPrefix("[BMODEL][ModelCtx:"), "libsophon's bmodel reader says it: \(log)")
        }

        /// `name` re-encoded by Tests/Reference/make_big_sim_model.py with its weights after a sparse hole of
        /// `holeGiB`, as libsophon and tpu-mlir write bmodels of 4 GiB and more (binary_size wrapped to 32 bits).
        static func bigModel(_ name: String, holeGiB: Int, chip: String, in folder: URL) async throws -> String {
            let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Reference/make_big_sim_model.py")
            let path = folder.appendingPathComponent("\(name)-big.bmodel").path
            let outcome = try await EngineTestSupport.run(EngineTestSupport.python, [
                script.path, "--model", try EngineTestSupport.simModel(name).path, "--hole-gib", String(holeGiB),
                "--chip", chip, "--output", path,
            ])
            guard outcome.status == 0 else { throw SimRuntimeError(description: "make_big_sim_model.py: \(outcome.standardError)") }
            return path
        }

        /// The embedding of `ids` as the loaded model computes it (its weights read from the blob).
        static func embed(_ session: Session, _ ids: [Int32], seqLen: Int, hidden: Int) throws -> [Float] {
            let idsMemory = try session.allocate(seqLen * 4), states = try session.allocate(seqLen * hidden * 4)
            try session.upload(ids + [Int32](repeating: 0, count: seqLen - ids.count), to: idsMemory)
            let info = try session.info("embedding")
            var outputs = [session.tensor(states, BM_FLOAT32, info.stages[0].output_shapes[0])]
            guard session.launch("embedding", [session.tensor(idsMemory, BM_INT32, info.stages[0].input_shapes[0])], &outputs) else {
                throw SimRuntimeError(description: "embedding failed")
            }
            return try session.download(ids.count * hidden, of: Float.self, from: states)
        }

        /// A bmodel over 4 GiB whose weights all lie beyond 4 GiB, with the legacy chip name BM1686: it loads and
        /// computes what the original computes; one byte short, it is refused as incomplete.
        @Test func aBModelOver4GiBLoadsAndReadsItsWeightsBeyond4GiB() async throws {
            let (original, _, json) = try Self.model("llama2-sim")
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sim-runtime-big-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let big = try await Self.bigModel("llama2-sim", holeGiB: 4, chip: "BM1686", in: folder)
            var info = stat()
            #expect(stat(big, &info) == 0)
            #expect(UInt64(info.st_size) > 4 << 30)
            #expect(UInt64(info.st_blocks) * 512 < 64 << 20, "the hole is sparse")

            let ids: [Int32] = [1, 5, 9, 17]
            let expected = try {
                let reference = try Session(heapBytes: Self.enoughHeap)
                #expect(reference.load(original))
                return try Self.embed(reference, ids, seqLen: json.seq_len, hidden: json.hidden)
            }()  // closed before the next session: handles on one device share its heap
            let session = try Session(heapBytes: Self.enoughHeap)
            let (loaded, output) = Self.capturingRuntimeOutput { session.load(big) }
            #expect(loaded, "\(output)")
            #expect(Int(session.api.get_network_number!(session.bmrt)) == json.nets.count)
            let rows = try Self.embed(session, ids, seqLen: json.seq_len, hidden: json.hidden)
            #expect(rows == expected)
            #expect(rows.contains { $0 != 0 })

            session.api.destroy!(session.bmrt)
            session.bmrt = nil
            let truncate = open(big, O_WRONLY)
            #expect(ftruncate(truncate, off_t(info.st_size) - 1) == 0)
            close(truncate)
            let fresh = try Session(heapBytes: Self.enoughHeap)
            let (cutLoaded, log) = Self.capturingRuntimeOutput { fresh.load(big) }
            #expect(!cutLoaded)
            #expect(log.contains("is broken: incomplete: its weights need a blob of"), "\(log)")
        }

        /// Tests/Fixtures/build-bmodel (make-bmodel-fixtures.sh): compiled-model stand-ins without sim subnets.
        @Test func fixtureBmodelsAreRefusedForTheirOwnReason() async throws {
            let fixtures = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/build-bmodel")
            if !FileManager.default.fileExists(atPath: fixtures.appendingPathComponent("tiny-chatglm2.bmodel").path) {
                let script = EngineTestSupport.repositoryRoot.appendingPathComponent("Tests/Fixtures/make-bmodel-fixtures.sh")
                let outcome = try await EngineTestSupport.run(URL(fileURLWithPath: "/bin/bash"), [script.path])
                guard outcome.status == 0 else { throw SimRuntimeError(description: "make-bmodel-fixtures.sh: \(outcome.standardError)") }
            }
            let expectations = [
                ("tiny-chatglm2", "this is a compiled model; the simulated runtime runs sim models only"),
                ("bad-magic", "is broken: magic 0xFF55AAFF"),
                ("old-chip", "WRONG:Error: runtime arch[BM1684X] is not the same with bmodel arch[BM1684]"),
                ("truncated", "is broken"),
            ]
            for (name, message) in expectations {
                let session = try Session(heapBytes: 64 * 1024 * Self.mib)
                let path = fixtures.appendingPathComponent("\(name).bmodel").path
                let (loaded, log) = Self.capturingRuntimeOutput { session.load(path) }
                #expect(!loaded, "\(name)")
                #expect(log.contains(message), "\(name): \(log)")
                #expect(try session.publishedUsedBytes() == 0, "\(name)")
            }
        }

        // MARK: - Math against numpy

        /// block_0 of the sim model over `tokens` (positions 0..n-1, plain causal attention), float64 numpy from
        /// weights.npz; prints the n x H hidden rows as JSON. Written from docs/sim-models.md "Math".
        static let referenceScript = #"""
        import json, sys
        import numpy as np
        folder, tokens = sys.argv[1], [int(t) for t in sys.argv[2].split(",")]
        m = json.load(open(folder + "/model.json")); w = np.load(folder + "/weights.npz")
        H, heads, kv_heads, D = m["hidden"], m["heads"], m["kv_heads"], m["head_dim"]
        eps, theta = m["rms_eps"], m["rope_theta"]
        W = lambda k: w[k].astype(np.float64)
        def rmsnorm(x, g): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g
        def rope(t, pos):
            half = D // 2
            angle = pos[:, None] * theta ** (-2.0 * np.arange(half) / D)
            c, s = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
            a, b = t[..., :half], t[..., half:]
            return np.concatenate([a * c - b * s, b * c + a * s], -1)
        n = len(tokens); x = W("embed")[tokens]; p = "block_0."; pos = np.arange(n, dtype=np.float64)
        h = rmsnorm(x, W(p + "attn_norm"))
        q = rope((h @ W(p + "wq")).reshape(n, heads, D), pos)
        k = rope((h @ W(p + "wk")).reshape(n, kv_heads, D), pos)
        v = (h @ W(p + "wv")).reshape(n, kv_heads, D)
        o = np.zeros((n, heads, D)); group = heads // kv_heads
        for head in range(heads):
            scores = q[:, head] @ k[:, head // group].T / np.sqrt(D) + np.triu(np.full((n, n), -np.inf), 1)
            e = np.exp(scores - scores.max(-1, keepdims=True)); o[:, head] = (e / e.sum(-1, keepdims=True)) @ v[:, head // group]
        x = x + o.reshape(n, heads * D) @ W(p + "wo")
        h2 = rmsnorm(x, W(p + "mlp_norm")); g = h2 @ W(p + "w_gate")
        x = x + (g / (1 + np.exp(-g)) * (h2 @ W(p + "w_up"))) @ W(p + "w_down")
        print(json.dumps(x.tolist()))
        """#

        static func reference(_ directory: URL, _ tokens: [Int32]) async throws -> [[Double]] {
            let outcome = try await EngineTestSupport.run(
                EngineTestSupport.python, ["-c", referenceScript, directory.path, tokens.map(String.init).joined(separator: ",")])
            guard outcome.status == 0 else { throw SimRuntimeError(description: "numpy reference failed: \(outcome.standardError)") }
            return try JSONDecoder().decode([[Double]].self, from: Data(outcome.standardOutput.utf8))
        }

        /// embedding + block_0 over a prompt, then embedding_cache + block_cache_0 for one more token, against numpy.
        @Test(arguments: ["chatglm2-sim", "llama2-sim"])
        func embeddingAndBlockZeroMatchNumpy(name: String) async throws {
            let (bmodel, directory, json) = try Self.model(name)
            let tokens: [Int32] = [1, 5, 9, 17, 33]
            let prompt = Array(tokens.dropLast()), n = prompt.count
            let expected = try await Self.reference(directory, tokens)
            let session = try Session(heapBytes: Self.enoughHeap)
            #expect(session.load(bmodel))
            let S = json.seq_len, H = json.hidden, KD = json.kv_heads * json.head_dim
            let glm = json.family == "chatglm2"
            let maskOff: Float = -10000

            // Prompt: ids padded with 0, causal mask, positions 0..S-1.
            let ids = try session.allocate(S * 4), states = try session.allocate(S * H * 4)
            let positions = try session.allocate(S * 4), mask = try session.allocate(S * S * 4)
            let pastK = try session.allocate(S * KD * 4), pastV = try session.allocate(S * KD * 4)
            try session.upload(prompt + [Int32](repeating: 0, count: S - n), to: ids)
            try session.upload((0..<S).map { Int32($0) }, to: positions)
            try session.upload((0..<S * S).map { $0 % S <= $0 / S ? Float(0) : maskOff }, to: mask)
            let embedding = try session.info("embedding"), block = try session.info("block_0")
            var embedOut = [session.tensor(states, BM_FLOAT32, embedding.stages[0].output_shapes[0])]
            #expect(session.launch("embedding", [session.tensor(ids, BM_INT32, embedding.stages[0].input_shapes[0])], &embedOut))
            // In place, like the LLM-TPU runners: hidden_states written over input_states.
            let blockIn = (0..<3).map { i in session.tensor([states, positions, mask][i], block.input_dtypes[i], block.stages[0].input_shapes[i]) }
            var blockOut = (0..<3).map { i in session.tensor([states, pastK, pastV][i], block.output_dtypes[i], block.stages[0].output_shapes[i]) }
            #expect(session.launch("block_0", blockIn, &blockOut))
            let hidden: [Float] = try session.download(n * H, of: Float.self, from: states)
            var worst = 0.0
            for row in 0..<n { for column in 0..<H { worst = max(worst, abs(Double(hidden[row * H + column]) - expected[row][column])) } }
            #expect(worst < 1e-4, "prompt rows differ from numpy by \(worst)")

            // One cached step. chatglm2 keeps the KV right-aligned (history rows S-n..S-1), llama2 left-aligned.
            let historyK = try session.allocate(S * KD * 4), historyV = try session.allocate(S * KD * 4)
            let rowBytes = KD * 4
            let firstRow = glm ? S - n : 0
            #expect(session.api.memcpy_d2d_byte!(session.handle, historyK, firstRow * rowBytes, pastK, 0, n * rowBytes) == BM_SUCCESS)
            #expect(session.api.memcpy_d2d_byte!(session.handle, historyV, firstRow * rowBytes, pastV, 0, n * rowBytes) == BM_SUCCESS)
            let oneId = try session.allocate(4), oneState = try session.allocate(H * 4), onePosition = try session.allocate(4)
            let cacheMask = try session.allocate((S + 1) * 4)
            try session.upload([tokens[n]], to: oneId)
            try session.upload([Int32(n)], to: onePosition)
            try session.upload((0...S).map { j in (j >= firstRow && j < firstRow + n) || j == S ? Float(0) : maskOff }, to: cacheMask)
            let embeddingCache = try session.info("embedding_cache"), cache = try session.info("block_cache_0")
            var cacheEmbedOut = [session.tensor(oneState, BM_FLOAT32, embeddingCache.stages[0].output_shapes[0])]
            #expect(session.launch("embedding_cache", [session.tensor(oneId, BM_INT32, embeddingCache.stages[0].input_shapes[0])], &cacheEmbedOut))
            let cacheInputs = [oneState, onePosition, cacheMask, historyK, historyV]
            let cacheIn = (0..<5).map { i in session.tensor(cacheInputs[i], cache.input_dtypes[i], cache.stages[0].input_shapes[i]) }
            // chatglm2 writes the shifted history back in place; llama2 returns the new row only (runtime-allocated here).
            var cacheOut = (0..<3).map { i in session.tensor([oneState, historyK, historyV][i], cache.output_dtypes[i], cache.stages[0].output_shapes[i]) }
            #expect(session.launch("block_cache_0", cacheIn, &cacheOut, userMemory: glm))
            #expect(Self.dims(cacheOut[1].shape) == Self.dims(cache.stages[0].output_shapes[1]))
            let newHidden: [Float] = try session.download(H, of: Float.self, from: cacheOut[0].device_mem)
            let cachedWorst = (0..<H).map { abs(Double(newHidden[$0]) - expected[n][$0]) }.max()!
            #expect(cachedWorst < 1e-4, "cached step differs from numpy by \(cachedWorst)")
            // The new K row sits where the layout says: chatglm2 last of the S shifted rows, llama2 the only row.
            let keys: [Float] = try session.download(glm ? S * KD : KD, of: Float.self, from: cacheOut[1].device_mem)
            let newRow = glm ? Array(keys[(S - 1) * KD..<S * KD]) : keys
            #expect(newRow.contains { $0 != 0 })
            if glm {
                let promptKeys: [Float] = try session.download(KD, of: Float.self, from: pastK)
                #expect(Array(keys[(S - n - 1) * KD..<(S - n) * KD]) == promptKeys, "history shifted up by one row")
            } else {
                for i in 0..<3 { session.api.free_device!(session.handle, cacheOut[i].device_mem) }
            }
        }

        /// user_mem false: the runtime allocates (and accounts) the output; TPU_SIM_FREE_NETS=1 skips the math.
        @Test func lmHeadWithRuntimeAllocatedOutputAndFreeNets() throws {
            let (bmodel, _, json) = try Self.model("llama2-sim")
            for freeNets in [false, true] {
                let session = try Session(heapBytes: Self.enoughHeap, freeNets: freeNets)
                #expect(session.load(bmodel))
                let used = try session.publishedUsedBytes()
                let state = try session.allocate(json.hidden * 4)
                try session.upload((0..<json.hidden).map { Float($0 % 7) - 3 }, to: state)
                let info = try session.info("lm_head")
                var outputs = [bm_tensor_t()]
                #expect(session.launch("lm_head", [session.tensor(state, BM_FLOAT32, info.stages[0].input_shapes[0])], &outputs, userMemory: false))
                #expect(Self.dims(outputs[0].shape) == [1, json.table_rows])
                #expect(outputs[0].dtype == BM_FLOAT32)
                let logits: [Float] = try session.download(json.table_rows, of: Float.self, from: outputs[0].device_mem)
                #expect(logits.contains { $0 != 0 } == !freeNets, "free nets \(freeNets)")
                #expect(try session.publishedUsedBytes() == used + UInt64(json.hidden * 4 + json.table_rows * 4))
                session.api.free_device!(session.handle, outputs[0].device_mem)
                session.api.free_device!(session.handle, state)
                #expect(try session.publishedUsedBytes() == used)
            }
        }
    }
}
