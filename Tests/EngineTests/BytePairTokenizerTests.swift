import Foundation
import Testing

/// The engine's GPT-2 byte-level BPE (WizardCoder's tokenizer, written by hand) against the `tokenizers` package:
/// a ByteLevel BPE trained on a few lines, saved as vocab.json + merges.txt, must give the same ids for every
/// string, and the engine must decode those ids back to the string.
struct BytePairTokenizerTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let strings: [String] = [
        "Hello world", "hello, world!", "  leading spaces", "trailing spaces   ", "x  y   z", "a\n\nb",
        "tabs\tand\nnew lines \n x", "\n", "   \n  ", "12345 678 9", "3.14159 and 2e10", "it's don't I'll we've they're I'd I'm",
        "'s 'S 'quoted' \"double\"", "a'b", "def main():\n    return 42\n", "for i in range(10): print(i)",
        "中文的句子，你好世界。", "mixed中文abc123", "emoji 😀🎉!", "👩‍💻 coder", "ünïcödé café naïve",
        "\u{00A0}nbsp\u{3000}ideographic space", "!!!???...", "x²³ ½ ①", "<|endoftext|> as text", "",
    ]

    /// Trains the vocabulary with `tokenizers` in a fresh folder and returns it with the expected ids per string.
    static func trainedTokenizer() async throws -> (directory: URL, expected: [[Int]]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let strings = directory.appendingPathComponent("strings.json")
        try JSONSerialization.data(withJSONObject: Self.strings).write(to: strings)
        let script = """
            import json, sys
            from tokenizers import ByteLevelBPETokenizer
            lines = ["Hello world, it's a test.", "We'll see 12345 numbers and    spaces.\\n\\nNew lines too!",
                     "中文的句子，你好世界。", "emoji 😀🎉 fun", "don't can't I'm you're they've we'd",
                     "def main():\\n    return 42\\n", "café naïve ünïcödé"]
            trainer = ByteLevelBPETokenizer(add_prefix_space=False)
            trainer.train_from_iterator(lines * 5, vocab_size=420, min_frequency=1, special_tokens=["<|endoftext|>"])
            trainer.save_model(sys.argv[1])
            tokenizer = ByteLevelBPETokenizer(sys.argv[1] + "/vocab.json", sys.argv[1] + "/merges.txt", add_prefix_space=False)
            strings = json.load(open(sys.argv[2], encoding="utf-8"))
            print(json.dumps([tokenizer.encode(s).ids for s in strings]))
            """
        let outcome = try await EngineTestSupport.run(
            EngineTestSupport.python, ["-c", script, directory.path, strings.path])
        guard outcome.status == 0,
            let expected = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [[Int]]
        else {
            throw Failure(description: "training with tokenizers failed (\(outcome.status)): \(outcome.standardError)")
        }
        return (directory, expected)
    }

    static func tokenize(_ directory: URL, _ arguments: [String]) async throws -> EngineTestSupport.ProcessOutcome {
        try await EngineTestSupport.run(
            EngineTestSupport.engineExecutable,
            ["tokenize", "--tokenizer", directory.path, "--family", "wizardcoder"] + arguments)
    }

    @Test func idsAndTextMatchTheTokenizersPackage() async throws {
        let (directory, expected) = try await Self.trainedTokenizer()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(expected.count == Self.strings.count)
        for (text, ids) in zip(Self.strings, expected) {
            let outcome = try await Self.tokenize(directory, ["--text", text])
            #expect(outcome.status == 0, "tokenize \(text.debugDescription): \(outcome.standardError)")
            let mine = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [Int]
            #expect(mine == ids, "ids of \(text.debugDescription)")
            guard !ids.isEmpty else { continue }
            let decoded = try await Self.tokenize(directory, ["--ids", ids.map(String.init).joined(separator: ",")])
            let back = try JSONSerialization.jsonObject(with: Data(decoded.standardOutput.utf8), options: .fragmentsAllowed) as? String
            #expect(back == text, "decoding the ids of \(text.debugDescription)")
        }
        // vocab.json named directly works too (merges.txt beside it).
        let direct = try await Self.tokenize(
            directory.appendingPathComponent("vocab.json"), ["--text", Self.strings[0]])
        #expect(try JSONSerialization.jsonObject(with: Data(direct.standardOutput.utf8)) as? [Int] == expected[0])
    }

    @Test func aFolderWithoutMergesIsALoadError() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(#"{"a": 0}"#.utf8).write(to: directory.appendingPathComponent("vocab.json"))
        let outcome = try await Self.tokenize(directory, ["--text", "a"])
        #expect(outcome.status == 3)
        #expect(outcome.standardError.contains("merges.txt"), "\(outcome.standardError)")
    }
}
