import Foundation
import Testing
@testable import TPUDeployKit

/// A little-endian ELF header of `elfClass` (1: ELF32, 2: ELF64) for `machine`, as a linker writes it.
func elfHeader(machine: UInt16, elfClass: UInt8 = 2) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 64)
    header.replaceSubrange(0..<7, with: [0x7F, 0x45, 0x4C, 0x46, elfClass, 1, 1])
    header[16] = 2
    header[18] = UInt8(machine & 0xFF)
    header[19] = UInt8(machine >> 8)
    return header
}

/// A model description whose lm_head returns `rows` logits (the vocabulary rows the pairing reads).
func modelWithVocabulary(rows: UInt64, blockPrefix: String = "") -> BModel {
    func tensor(_ shape: [UInt64]) -> BModel.TensorInfo { .init(name: "t", dataType: 0, shape: shape, bytes: 4 * shape.reduce(1, *)) }
    let head = BModel.Stage(inputs: [tensor([1, 64])], outputs: [tensor([1, rows])], contextBytes: 0, coefficientStart: 0, coefficientBytes: 0)
    let block = BModel.Stage(inputs: [tensor([1, 64])], outputs: [tensor([1, 64])], contextBytes: 0, coefficientStart: 0, coefficientBytes: 0)
    return BModel(chip: "BM1684X", nets: [.init(name: "\(blockPrefix)block_0", stages: [block]), .init(name: "lm_head", stages: [head])])
}

@Suite struct EngineArchitectureTests {
    @Test func readsTheMachineOfRealExecutables() throws {
        let native = try ELFHeader(LocalFile.readPrefix("/bin/true", count: 64).bytes)
        #expect(native.runs(on: try #require(ELFHeader.expected(forUnameMachine: EngineSource.hostArch))))
        #expect(try ELFHeader(elfHeader(machine: 183)) == ELFHeader(elfClass: .elf64, machine: 183))
        #expect(try ELFHeader(elfHeader(machine: 40, elfClass: 1)).machineName == "32-bit ARM (ELF32)")
        // The aarch64 engine of `make cross`, when this checkout has one.
        let cross = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Payloads/aarch64/tpu-llm-engine").path
        if FileManager.default.isReadableFile(atPath: cross) {
            #expect(try ELFHeader(LocalFile.readPrefix(cross, count: 64).bytes).machine == 183)
        }
    }

    @Test func anEngineForAnotherMachineIsRefusedNamingBoth() {
        #expect(throws: Never.self) { try EngineArchitectureCheck.check(engineHeader: elfHeader(machine: 183), path: "e", boardArch: "aarch64") }
        do {
            _ = try EngineArchitectureCheck.check(engineHeader: elfHeader(machine: 62), path: "build/tpu-llm-engine", boardArch: "aarch64")
            Issue.record("an x86-64 engine must not go to an aarch64 board")
        } catch {
            #expect(error as? PushError == .engineWrongArchitecture(path: "build/tpu-llm-engine", engineMachine: "x86-64 (ELF64)",
                                                                      boardArch: "aarch64", boardMachine: "aarch64 (ELF64)"))
            #expect("\(error)".contains("build/tpu-llm-engine is built for x86-64 (ELF64), but the board runs aarch64"))
        }
        // A 32-bit ARM build on a 64-bit board: same family, another class.
        #expect(throws: PushError.self) { try EngineArchitectureCheck.check(engineHeader: elfHeader(machine: 40, elfClass: 1), path: "e", boardArch: "aarch64") }
    }

    @Test func aTextFileIsNotAnEngine() {
        #expect(throws: PushError.engineNotExecutable(path: "notes.txt", reason: "it is 3 bytes long, too short for an executable")) {
            try EngineArchitectureCheck.check(engineHeader: Array("hi\n".utf8), path: "notes.txt", boardArch: "x86_64")
        }
        #expect {
            try EngineArchitectureCheck.check(engineHeader: Array("#!/bin/sh\nexec /usr/bin/engine \"$@\"\n".utf8), path: "run.sh", boardArch: "x86_64")
        } throws: { "\($0)".contains("does not start with an ELF header") }
        // An architecture this check does not know is let through with a warning, not refused.
        #expect((try? EngineArchitectureCheck.check(engineHeader: elfHeader(machine: 8), path: "e", boardArch: "mips")) != nil)
    }
}

@Suite struct TokenizerRuleTests {
    @Test func rowsMayExceedTheIdsOnlyByRealPadding() throws {
        // 480 pieces against 512 rows: 32 spare rows (6 %) are another model's vocabulary, not padding.
        #expect {
            try TokenizerPairing.check(pieces: 480, family: "llama2", model: modelWithVocabulary(rows: 512), tokenizerName: "t.model", modelName: "m.bmodel")
        } throws: { error in
            guard case PushError.tokenizerMismatch = error else { return false }
            return "\(error)".contains("512 vocabulary rows, 32 more than the tokenizer's 480 pieces")
        }
        #expect(try TokenizerPairing.check(pieces: 512, family: "llama2", model: modelWithVocabulary(rows: 512),
                                           tokenizerName: "t", modelName: "m").verdict == .matches)
        // ChatGLM2-6B: 64 789 pieces + 5 special tokens = 64 794 ids in 65 024 rows.
        #expect(try TokenizerPairing.check(pieces: 64789, family: "chatglm2", model: modelWithVocabulary(rows: 65024),
                                           tokenizerName: "t", modelName: "m").modelRows == 65024)
        // One id past the table is refused.
        #expect(throws: PushError.self) {
            try TokenizerPairing.check(pieces: 513, family: "llama2", model: modelWithVocabulary(rows: 512), tokenizerName: "t", modelName: "m")
        }
    }

    @Test func aWrongProfileFamilyNamesTheModel() {
        // A Llama2 model (32 000 rows, its own 32 000-piece tokenizer) under a chatglm2 profile.
        #expect {
            try TokenizerPairing.check(pieces: 32000, family: "chatglm2", model: modelWithVocabulary(rows: 32000),
                                       tokenizerName: "tokenizer.model", modelName: "llama2-7b.bmodel", profileName: "chatglm2-6b")
        } throws: { error in
            guard case PushError.modelFamilyMismatch(let model, let profile, _, _) = error else { return false }
            return model == "llama2-7b.bmodel" && profile == "chatglm2-6b" && "\(error)".hasPrefix("llama2-7b.bmodel does not look like a chatglm2 model")
        }
        // ChatGLM2's 2023 nets under a llama2 profile.
        #expect {
            try TokenizerPairing.check(pieces: 512, family: "llama2", model: modelWithVocabulary(rows: 517, blockPrefix: "glm_"),
                                       tokenizerName: "t", modelName: "glm.bmodel", profileName: "llama2-7b")
        } throws: { "\($0)".contains("glm.bmodel does not look like a llama2 model") && "\($0)".contains("glm_block_0") }
    }

    @Test func anEmptyOrRandomTokenizerIsRefused() throws {
        #expect(throws: PushError.tokenizerUnreadable(path: "t", reason: "the file is empty")) { try TokenizerVocabulary.read([], path: "t") }
        var generator = SystemRandomNumberGenerator()
        let random = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(throws: PushError.self) { try TokenizerVocabulary.read(random, path: "t") }
        #expect(throws: PushError.self) { try TokenizerVocabulary.read(Array("just some text\n".utf8), path: "t") }
        #expect(try TokenizerVocabulary.read(sentencePieceModel(pieces: 300), path: "t") == (300, "sentencepiece"))
        #expect(try TokenizerVocabulary.read(Array(#"{"<|endoftext|>": 0, "a": 1, "Ġthe": 7}"#.utf8), path: "vocab.json") == (8, "vocab.json"))
    }
}

@Suite struct ReplyTextCheckTests {
    @Test func garbageAnswersAreNamed() {
        #expect(ReplyTextCheck.problem(in: "I am a language model.") == nil)
        #expect(ReplyTextCheck.problem(in: "第一行\n\tindented") == nil)
        #expect(ReplyTextCheck.problem(in: "") == "the answer is empty")
        #expect(ReplyTextCheck.problem(in: " \n") == "the answer is empty")
        #expect(ReplyTextCheck.problem(in: " ⁇  ⁇  ⁇ ")?.contains("3 ⁇ (U+2047)") == true)
        #expect(ReplyTextCheck.problem(in: "ab\u{FFFD}")?.contains("U+FFFD") == true)
        #expect(ReplyTextCheck.problem(in: "a\u{01}b")?.contains("control character") == true)
    }
}
