import Foundation

/// Counts the pieces of a sentencepiece `.model` file: a `ModelProto` protobuf whose field 1 (`pieces`) is
/// repeated once per vocabulary entry. A tiny walk over the top-level fields; nothing else is decoded.
public enum SentencePieceModel {
    /// The number of pieces (the tokenizer's vocabulary size), or nil when `bytes` is not a ModelProto.
    public static func pieceCount(_ bytes: [UInt8]) -> Int? {
        var position = 0
        var pieces = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.count, shift < 64 {
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while position < bytes.count {
            guard let key = varint() else { return nil }
            let field = key >> 3
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: position += 8
            case 5: position += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - position) else { return nil }
                if field == 1 {
                    // A SentencePiece message starts with its piece text (field 1, length-delimited).
                    guard length >= 2, bytes[position] == 0x0A else { return nil }
                    pieces += 1
                }
                position += Int(length)
            default: return nil
            }
            guard field >= 1, position <= bytes.count else { return nil }
        }
        return pieces > 0 ? pieces : nil
    }
}

/// The ids a tokenizer file can produce: a sentencepiece `tokenizer.model` (ChatGLM2, Llama2) or a GPT-2
/// byte-level BPE `vocab.json` (WizardCoder, SmolLM2). Anything else, or an empty file, is not a tokenizer.
public enum TokenizerVocabulary {
    /// (ids, kind): the vocabulary size and "sentencepiece" or "vocab.json"; throws `tokenizerUnreadable`.
    public static func read(_ bytes: [UInt8], path: String) throws -> (ids: Int, kind: String) {
        guard !bytes.isEmpty else { throw PushError.tokenizerUnreadable(path: path, reason: "the file is empty") }
        if let pieces = SentencePieceModel.pieceCount(bytes) { return (pieces, "sentencepiece") }
        if let ids = BytePairVocabulary.pieceCount(bytes) { return (ids, "vocab.json") }
        throw PushError.tokenizerUnreadable(
            path: path, reason: "it is neither a sentencepiece model (a ModelProto of pieces) nor a GPT-2 vocab.json (piece → id)")
    }
}

/// A GPT-2 byte-level BPE tokenizer's `vocab.json` (WizardCoder, SmolLM2): a JSON object of piece → id.
public enum BytePairVocabulary {
    /// The number of ids the vocabulary holds (highest id + 1), or nil when `bytes` is not such a JSON object.
    public static func pieceCount(_ bytes: [UInt8]) -> Int? {
        guard bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], !object.isEmpty
        else { return nil }
        let ids = object.values.compactMap { ($0 as? NSNumber)?.intValue }
        guard ids.count == object.count, let highest = ids.max(), ids.min() ?? -1 >= 0 else { return nil }
        return highest + 1
    }

    /// The files the engine reads beside a `vocab.json`: `merges.txt`, or, without it, Hugging Face's
    /// `tokenizer.json` (Qwen's token_config/ holds the merges only there), and `tokenizer_config.json` when present.
    public static func companionFiles(of vocabulary: String) -> [String] {
        guard (vocabulary as NSString).lastPathComponent == "vocab.json" else { return [] }
        let folder = vocabulary as NSString
        let inFolder = { (name: String) in (folder.deletingLastPathComponent as NSString).appendingPathComponent(name) }
        let merges = FileManager.default.fileExists(atPath: inFolder("merges.txt")) ? "merges.txt" : "tokenizer.json"
        return [merges, "tokenizer_config.json"].map(inFolder).filter { FileManager.default.fileExists(atPath: $0) }
    }
}

/// How a tokenizer was checked against a bmodel, and what was found.
///
/// The rule: the model's vocabulary rows (the embedding table and lm_head) must hold every id the tokenizer
/// can produce — sentencepiece pieces, plus the five special tokens ChatGLM2 appends after them — and may exceed
/// them only by the padding real models use, at most 1 % of the ids: ChatGLM2-6B pads 64 794 ids to 65 024 rows
/// (0.36 %), Qwen 151 851 to 151 936; Llama2 and WizardCoder do not pad. Fewer rows means ids past the table
/// (garbage or a crash); more means the tokenizer of another model. The rows come from lm_head's
/// logits width when the model returns logits, else from the embedding net's weight bytes divided by the
/// hidden size and element size of its output tensor (the table is stored in the type it outputs) or, when the
/// net outputs fp32, by 2-byte elements: the 2023 seed repositories (sophgo/ChatGLM2-TPU, sophgo/Llama2-TPU
/// `compile/compile.sh`) deploy the embedding with `--quantize F16` and no `--quant_output`, so an fp16 table
/// feeds fp32 outputs. When neither is visible, the check is reported as not made. A profile whose family
/// does not fit the model (its special tokens, or ChatGLM2's `glm_block_N` nets) is named as the model's problem.
public struct TokenizerPairing: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable { case matches, unverifiable }

    public var verdict: Verdict
    public var tokenizerPieces: Int
    /// Ids the tokenizer can produce (pieces plus family special tokens).
    public var idsNeeded: Int
    /// Vocabulary rows found in the model, if any.
    public var modelRows: Int?
    /// lm_head_logits or embedding_weights.
    public var source: String?

    /// Extra special tokens a family appends after the sentencepiece vocabulary.
    public static func specialTokens(family: String?) -> Int { family == "chatglm2" ? 5 : 0 }

    /// Rows beyond the ids a model may have as padding: 1 % of the ids.
    public static func allowedPadding(ids: Int) -> Int { ids / 100 }

    /// Checks `pieces` against `model`; throws `PushError.tokenizerMismatch` when they cannot belong together,
    /// `PushError.modelFamilyMismatch` when it is the profile's family that does not fit the model.
    public static func check(pieces: Int, family: String?, model: BModel, tokenizerName: String, modelName: String,
                             profileName: String? = nil) throws -> TokenizerPairing {
        if let family, family != "chatglm2", model.nets.contains(where: { $0.name == "glm_block_0" }) {
            throw PushError.modelFamilyMismatch(model: modelName, profile: profileName ?? family, family: family,
                                                detail: "its nets are ChatGLM2's (glm_block_0, …)")
        }
        let needed = pieces + specialTokens(family: family)
        let (candidates, source) = rowCandidates(model)
        guard !candidates.isEmpty else {
            return TokenizerPairing(verdict: .unverifiable, tokenizerPieces: pieces, idsNeeded: needed, modelRows: nil, source: nil)
        }
        func fits(_ rows: Int, _ ids: Int) -> Bool { rows >= ids && rows - ids <= allowedPadding(ids: ids) }
        if let rows = candidates.first(where: { fits($0, needed) }) {
            return TokenizerPairing(verdict: .matches, tokenizerPieces: pieces, idsNeeded: needed, modelRows: rows, source: source)
        }
        // The tokenizer fits once the family's special tokens are taken out (or ChatGLM2's put in): the profile is wrong.
        let otherFamily = specialTokens(family: family) > 0 ? pieces : pieces + specialTokens(family: "chatglm2")
        if let family, let rows = candidates.first(where: { fits($0, otherFamily) }) {
            let detail = specialTokens(family: family) > 0
                ? "its \(rows) vocabulary rows fit the tokenizer's \(pieces) pieces without the \(specialTokens(family: family)) special tokens \(family) adds after them"
                : "its \(rows) vocabulary rows fit the tokenizer's \(pieces) pieces only with ChatGLM2's 5 special tokens after them"
            throw PushError.modelFamilyMismatch(model: modelName, profile: profileName ?? family, family: family, detail: detail)
        }
        let rows = candidates[0]
        let detail = rows < needed
            ? "the tokenizer has \(pieces) pieces (\(needed) ids), but the model has only \(rows) vocabulary rows"
            : "the model has \(rows) vocabulary rows, \(rows - needed) more than the tokenizer's \(pieces) pieces (\(needed) ids); models pad their vocabulary by at most 1 % (ChatGLM2: 64794 ids, 65024 rows), so it belongs to another model"
        throw PushError.tokenizerMismatch(tokenizer: tokenizerName, model: modelName, detail: detail)
    }

    /// The model's vocabulary rows (none when not visible), and where they came from.
    /// Bytes per element of bm_data_type_t: fp32, fp16, int8, uint8, int16, uint16, int32, uint32, bf16.
    static let elementBytes: [UInt32: UInt64] = [0: 4, 1: 2, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 2]

    static func rowCandidates(_ model: BModel) -> ([Int], String?) {
        if let head = model.nets.first(where: { $0.name == "lm_head" }),
           let width = head.stages.first?.outputs.first?.shape.last, width > 1 {
            return ([Int(width)], "lm_head_logits")
        }
        if let embedding = model.nets.first(where: { $0.name == "embedding" }), let stage = embedding.stages.first,
           let output = stage.outputs.first, let hidden = output.shape.last, hidden > 0, stage.coefficientBytes > 0,
           let width = elementBytes[output.dataType] {
            // The table is stored in the type the net outputs (a lookup copies rows unchanged), or in fp16 under
            // fp32 outputs (an F16 deploy without --quant_output).
            let widths = output.dataType == 0 ? [width, 2] : [width]
            let rows = widths.compactMap { width -> Int? in
                let perRow = hidden * width
                return stage.coefficientBytes % perRow == 0 ? Int(stage.coefficientBytes / perRow) : nil
            }
            if !rows.isEmpty { return (rows, "embedding_weights") }
        }
        return ([], nil)
    }
}
