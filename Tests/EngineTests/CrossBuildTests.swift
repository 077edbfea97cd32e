import Foundation
import Testing

/// The boards' build (`make cross`: Payloads/build/build-aarch64.sh): an aarch64 engine and simulated runtime that
/// need nothing newer than Ubuntu 20.04's glibc 2.31 and no C++ or sentencepiece library, and that compute the
/// reference tokens when run under qemu-aarch64 with the bullseye sysroot as the board's root.
@Suite struct CrossBuildTests {
    static let root = EngineTestSupport.repositoryRoot
    static let payloads = root.appendingPathComponent("Payloads/aarch64")
    static let engine = payloads.appendingPathComponent("tpu-llm-engine")
    static let simRuntime = payloads.appendingPathComponent("sim-runtime")
    static let sysroot = root.appendingPathComponent("build/aarch64-sysroot")
    static let checkGlibc = root.appendingPathComponent("Payloads/build/check-glibc.sh")
    static let boardGlibc = "2.31"

    /// The cross-built files; fails (never skips) with the command that makes them when absent.
    static func requirePayloads() throws {
        for file in [engine, simRuntime.appendingPathComponent("libbmrt.so"), simRuntime.appendingPathComponent("libbmlib.so")]
        where !FileManager.default.fileExists(atPath: file.path) {
            throw EngineTestSupport.MissingPrerequisite(description: "no \(file.path): run `make cross`")
        }
        guard FileManager.default.fileExists(atPath: sysroot.appendingPathComponent("lib/ld-linux-aarch64.so.1").path) else {
            throw EngineTestSupport.MissingPrerequisite(description: "no aarch64 sysroot in \(sysroot.path): run `make cross`")
        }
    }

    static func tool(_ name: String) throws -> URL {
        for directory in ["/usr/bin", "/bin", "/usr/local/bin"] {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw EngineTestSupport.MissingPrerequisite(description: "no \(name) on this machine: run `make setup`")
    }

    static func bash(_ arguments: [String]) async throws -> EngineTestSupport.ProcessOutcome {
        try await EngineTestSupport.run(try tool("bash"), arguments)
    }

    /// The libraries an ELF file names in its dynamic section (`readelf -d`, NEEDED).
    static func neededLibraries(_ file: URL) async throws -> [String] {
        let outcome = try await EngineTestSupport.run(try tool("readelf"), ["-d", "--wide", file.path])
        #expect(outcome.status == 0, "readelf -d \(file.path): \(outcome.standardError)")
        return outcome.standardOutput.split(separator: "\n").compactMap { line in
            guard line.contains("(NEEDED)"), let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else {
                return nil
            }
            return String(line[line.index(after: open)..<close])
        }
    }

    @Test func nothingInThePayloadsNeedsAGlibcNewerThanTheBoards() async throws {
        try Self.requirePayloads()
        let outcome = try await Self.bash([Self.checkGlibc.path, Self.payloads.path, Self.boardGlibc])
        #expect(outcome.status == 0, "\(outcome.standardOutput)\(outcome.standardError)")
        // Both ELF files were looked at (libbmlib.so is a link to libbmrt.so, checked as libbmrt.so).
        #expect(outcome.standardOutput.contains("ok    \(Self.engine.path) "), "\(outcome.standardOutput)")
        #expect(outcome.standardOutput.contains("ok    \(Self.simRuntime.appendingPathComponent("libbmrt.so").path) "),
                "\(outcome.standardOutput)")
        #expect(!outcome.standardOutput.contains("FAIL"))
    }

    /// The check is not vacuous: beside the payloads, a program built against this machine's glibc (Debian 12:
    /// 2.36, whose programs need at least GLIBC_2.34's __libc_start_main) is rejected with its versions named.
    @Test func theGlibcCheckRejectsABinaryBuiltAgainstANewerGlibc() async throws {
        try Self.requirePayloads()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpu-check-glibc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let hostProgram = try Self.tool("ls")
        try FileManager.default.copyItem(at: hostProgram, to: directory.appendingPathComponent("host-ls"))
        try FileManager.default.copyItem(at: Self.engine, to: directory.appendingPathComponent("tpu-llm-engine"))
        try Data("not an ELF file\n".utf8).write(to: directory.appendingPathComponent("README"))

        let outcome = try await Self.bash([Self.checkGlibc.path, directory.path, Self.boardGlibc])
        #expect(outcome.status == 1, "\(outcome.standardOutput)\(outcome.standardError)")
        let lines = outcome.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("FAIL") && $0.contains("host-ls") }, "\(outcome.standardOutput)")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains("tpu-llm-engine") }, "\(outcome.standardOutput)")
        #expect(lines.contains { $0.contains("GLIBC_2.34:") && $0.contains("__libc_start_main") }, "\(outcome.standardOutput)")
        #expect(outcome.standardError.contains("1 of 2 ELF files"), "\(outcome.standardError)")

        // A limit at or above what the program needs lets it through.
        let lenient = try await Self.bash([Self.checkGlibc.path, directory.path, "99.0"])
        #expect(lenient.status == 0, "\(lenient.standardOutput)\(lenient.standardError)")
    }

    @Test func thePayloadsAreAArch64AndTheRuntimeIsOneLibraryUnderBothNames() async throws {
        try Self.requirePayloads()
        let runtime = Self.simRuntime.appendingPathComponent("libbmrt.so")
        for file in [Self.engine, runtime] {
            // ELF header: 64-bit, little-endian, e_machine 183 (EM_AARCH64).
            let header = [UInt8](try Data(contentsOf: file).prefix(20))
            #expect(header.count == 20 && header[0..<4] == [0x7F, 0x45, 0x4C, 0x46], "\(file.path) is not ELF")
            #expect(header[4] == 2 && header[5] == 1, "\(file.path) is not 64-bit little-endian")
            #expect(UInt16(header[18]) | UInt16(header[19]) << 8 == 183, "\(file.path) is not aarch64")
            let described = try await EngineTestSupport.run(try Self.tool("file"), ["-b", file.path])
            #expect(described.standardOutput.contains("ARM aarch64"), "file: \(described.standardOutput)")
        }
        let program = try await EngineTestSupport.run(try Self.tool("readelf"), ["-l", "--wide", Self.engine.path])
        #expect(program.standardOutput.contains("[Requesting program interpreter: /lib/ld-linux-aarch64.so.1]"))
        #expect(runtime.resolvingSymlinksInPath().path
                == Self.simRuntime.appendingPathComponent("libbmlib.so").resolvingSymlinksInPath().path
                || FileManager.default.contentsEqual(atPath: runtime.path,
                                                     andPath: Self.simRuntime.appendingPathComponent("libbmlib.so").path))
    }

    /// Ubuntu 20.04 with libsophon has glibc; nothing else may be needed (libstdc++, libgcc_s and sentencepiece
    /// are inside). The runtime stand-in is held to the same rule.
    @Test func theEngineNeedsOnlyGlibcsLibraries() async throws {
        try Self.requirePayloads()
        let allowed: Set<String> = ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "ld-linux-aarch64.so.1"]
        for file in [Self.engine, Self.simRuntime.appendingPathComponent("libbmrt.so")] {
            let needed = try await Self.neededLibraries(file)
            #expect(needed.contains("libc.so.6"), "\(file.lastPathComponent) needs \(needed)")
            #expect(Set(needed).isSubset(of: allowed), "\(file.lastPathComponent) needs \(needed)")
        }
        // The C++ runtime is in the engine and hidden (--exclude-libs): it exports no std:: or sentencepiece symbols.
        let symbols = try await EngineTestSupport.run(try Self.tool("readelf"), ["--dyn-syms", "--wide", Self.engine.path])
        let exported = symbols.standardOutput.split(separator: "\n").filter {
            !$0.contains(" UND ") && ($0.contains("_ZNSt") || $0.contains("sentencepiece"))
        }
        #expect(exported.isEmpty, "exported: \(exported.prefix(5))")
    }

    @Test(.hangGuard) func theAArch64EngineUnderQemuGivesTheReferenceTokens() async throws {
        try Self.requirePayloads()
        let model = try EngineTestSupport.simModel("llama2-sim")
        let reference = Self.root.appendingPathComponent("Tests/Reference/reference.py")
        guard FileManager.default.fileExists(atPath: reference.path) else {
            throw EngineTestSupport.MissingPrerequisite(description: "no \(reference.path)")
        }
        let ids = try Self.promptIDs(model)
        let maxTokens = "20"

        let engine = try await EngineTestSupport.run(try Self.tool("qemu-aarch64"), [
            "-L", Self.sysroot.path, Self.engine.path, "generate",
            "--runtime-dir", Self.simRuntime.path,
            "--model", model.appendingPathComponent("llama2-sim.bmodel").path,
            "--tokenizer", model.appendingPathComponent("tokenizer.model").path,
            "--ids", ids, "--max-tokens", maxTokens, "--json",
        ])
        try #require(engine.status == 0, "aarch64 engine: \(engine.standardError)\(engine.standardOutput)")
        let expected = try await EngineTestSupport.run(EngineTestSupport.python, [
            reference.path, "generate", "--model-dir", model.path, "--ids", ids, "--max-tokens", maxTokens,
        ])
        try #require(expected.status == 0, "reference.py: \(expected.standardError)")

        let engineTokens = try Self.tokens(in: engine.standardOutput)
        let referenceTokens = try Self.tokens(in: expected.standardOutput)
        #expect(!engineTokens.isEmpty)
        #expect(engineTokens == referenceTokens, "aarch64 engine \(engineTokens), reference \(referenceTokens)")
    }

    /// A prompt of bos and a few pieces inside the model's vocabulary (model.json's vocab_size).
    static func promptIDs(_ model: URL) throws -> String {
        let data = try Data(contentsOf: model.appendingPathComponent("model.json"))
        let description = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let vocabulary = (description?["vocab_size"] as? Int) ?? 259
        let bos = (description?["bos_id"] as? Int) ?? 1
        let pieces = [vocabulary / 2, vocabulary - 1, vocabulary / 3, 259 % vocabulary, vocabulary * 2 / 3]
        return ([bos] + pieces).map(String.init).joined(separator: ",")
    }

    /// The "tokens" array of the JSON object an output holds (the engine's `--json` line; the reference's JSON),
    /// or of its last JSON line.
    static func tokens(in output: String) throws -> [Int] {
        let candidates = [output] + output.split(separator: "\n").reversed().map(String.init)
        for candidate in candidates {
            guard let data = candidate.trimmingCharacters(in: .whitespacesAndNewlines).data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) else { continue }
            if let dictionary = object as? [String: Any], let tokens = dictionary["tokens"] as? [Int] { return tokens }
            if let tokens = object as? [Int] { return tokens }
        }
        throw EngineTestSupport.MissingPrerequisite(description: "no token list in output: \(output.prefix(400))")
    }
}
