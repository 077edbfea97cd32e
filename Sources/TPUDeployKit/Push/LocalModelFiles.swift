import Foundation

/// The checks of a deployment's local files that need no board: the bmodel parses, the tokenizer is one the
/// engine reads, its kind is the one the profile's family uses, and its ids fit the model's vocabulary rows.
/// `push` runs them before it asks the board anything; `fleet rollout` once, before any board starts.
public struct LocalModelFiles: Sendable {
    public var model: BModel?
    public var pairing: TokenizerPairing?
    public var warnings: [String] = []

    /// The tokenizer kind each family's engine reads: sentencepiece for ChatGLM2 and Llama2, a GPT-2 byte-level
    /// BPE vocab.json for the others.
    static func tokenizerKind(family: String) -> String {
        ["chatglm2", "llama2"].contains(family) ? "sentencepiece" : "vocab.json"
    }

    public init(bmodel: String?, tokenizer: String?, profile: ModelProfile?) throws {
        if let bmodel { model = try BModel(contentsOf: bmodel) }
        guard let tokenizer else { return }
        let bytes: [UInt8]
        do { bytes = try LocalFile.readPrefix(tokenizer, count: 256 << 20).bytes } catch {
            throw PushError.localFileUnreadable(path: tokenizer, reason: "\(error)")
        }
        // An empty or unreadable tokenizer is refused: the engine would fail on it, or answer garbage.
        let vocabulary = try TokenizerVocabulary.read(bytes, path: tokenizer)
        if let profile, vocabulary.kind != Self.tokenizerKind(family: profile.family) {
            let expected = Self.tokenizerKind(family: profile.family) == "sentencepiece" ? "a sentencepiece tokenizer.model" : "a GPT-2 vocab.json"
            let found = vocabulary.kind == "sentencepiece" ? "a sentencepiece model" : "a GPT-2 vocab.json"
            throw PushError.modelFamilyMismatch(
                model: bmodel ?? tokenizer, profile: profile.name, family: profile.family,
                detail: "\(profile.family) models read \(expected), and \(tokenizer) is \(found): the files are another model's")
        }
        if let model, let bmodel {
            pairing = try TokenizerPairing.check(pieces: vocabulary.ids, family: profile?.family, model: model,
                                                 tokenizerName: tokenizer, modelName: bmodel, profileName: profile?.name)
            if pairing?.verdict == .unverifiable {
                warnings.append("\(bmodel) does not show its vocabulary size: the tokenizer pairing was not checked")
            }
        }
    }
}
