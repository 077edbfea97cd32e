import Foundation
import Testing
import TPUDeployKit

/// Push's view of a byte-level BPE tokenizer (WizardCoder, SmolLM2): the ids a vocab.json holds, for the pairing
/// check against lm_head, and the files the engine reads beside it, which push sends along.
struct BytePairVocabularyTests {
    @Test func countsIdsUpToTheHighest() {
        #expect(BytePairVocabulary.pieceCount(Array(#"{"<|endoftext|>": 0, "a": 1, "Ġthe": 2}"#.utf8)) == 3)
        // Ids with a gap (added tokens kept elsewhere) still need rows up to the highest.
        #expect(BytePairVocabulary.pieceCount(Array(#" {"a": 0, "b": 9}"#.utf8)) == 10)
    }

    @Test func refusesWhatIsNotAVocabulary() {
        #expect(BytePairVocabulary.pieceCount(Array("[1, 2]".utf8)) == nil)
        #expect(BytePairVocabulary.pieceCount(Array(#"{"a": "x"}"#.utf8)) == nil)
        #expect(BytePairVocabulary.pieceCount(Array("{}".utf8)) == nil)
        #expect(BytePairVocabulary.pieceCount([0x0A, 0x05, 0x3C]) == nil) // a sentencepiece model's first bytes
    }

    @Test func mergesAndTheConfigurationTravelWithVocabJSON() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let vocab = folder.appendingPathComponent("vocab.json").path
        for name in ["vocab.json", "merges.txt"] { try Data("{}".utf8).write(to: folder.appendingPathComponent(name)) }
        #expect(BytePairVocabulary.companionFiles(of: vocab) == [folder.appendingPathComponent("merges.txt").path])
        try Data("{}".utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        #expect(BytePairVocabulary.companionFiles(of: vocab).map { ($0 as NSString).lastPathComponent } == ["merges.txt", "tokenizer_config.json"])
        #expect(BytePairVocabulary.companionFiles(of: folder.appendingPathComponent("tokenizer.model").path).isEmpty)
    }

    /// Qwen's token_config/ (sophgo/LLM-TPU): vocab.json, tokenizer.json and tokenizer_config.json, no merges.txt;
    /// the engine then reads the merges from tokenizer.json, so push sends it.
    @Test func tokenizerJSONTravelsWhenThereIsNoMergesFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qwen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "tokenizer.json", "tokenizer_config.json"] {
            try Data("{}".utf8).write(to: folder.appendingPathComponent(name))
        }
        let vocab = folder.appendingPathComponent("vocab.json").path
        #expect(BytePairVocabulary.companionFiles(of: vocab).map { ($0 as NSString).lastPathComponent } == ["tokenizer.json", "tokenizer_config.json"])
        try Data("{}".utf8).write(to: folder.appendingPathComponent("merges.txt"))
        #expect(BytePairVocabulary.companionFiles(of: vocab).map { ($0 as NSString).lastPathComponent } == ["merges.txt", "tokenizer_config.json"])
    }
}
