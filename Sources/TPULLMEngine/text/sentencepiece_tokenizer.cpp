#include <sentencepiece_processor.h>

#include <sys/stat.h>

#include "tokenizer.h"
#include "tpu_llm_engine.h"

namespace tpu {

namespace {

const std::string kSpaceSymbol = "\xE2\x96\x81"; /* ▁ */
const std::string kUnknownSurface = " \xE2\x81\x87 "; /* what sentencepiece decodes <unk> to */

class SentencePieceTokenizer final : public Tokenizer {
  public:
    explicit SentencePieceTokenizer(const std::string &path) {
        struct stat info {};
        if (stat(path.c_str(), &info) != 0)
            throw EngineError(EngineError::Kind::load, "tokenizer " + path + " does not exist (--tokenizer)");
        if (S_ISDIR(info.st_mode))
            throw EngineError(EngineError::Kind::load,
                              "tokenizer " + path + " is a directory: give the sentencepiece tokenizer.model file");
        auto status = processor_.Load(path);
        if (!status.ok())
            throw EngineError(EngineError::Kind::load,
                              "tokenizer " + path + " is not a sentencepiece model: " + status.ToString());
    }

    std::vector<int> encode(const std::string &text) const override {
        std::vector<int> ids;
        auto status = processor_.Encode(text, &ids);
        if (!status.ok()) throw EngineError(EngineError::Kind::input, "cannot tokenize the text: " + status.ToString());
        return ids;
    }

    std::string token_bytes(int id, bool at_start) const override {
        if (id < 0 || id >= processor_.GetPieceSize()) return {}; /* family special tokens beyond the SP vocab */
        if (processor_.IsControl(id)) return {};
        if (processor_.IsUnknown(id)) return kUnknownSurface;
        std::string piece = processor_.IdToPiece(id);
        if (processor_.IsByte(id) && piece.size() == 6) /* <0xAB> */
            return std::string(1, char(std::stoi(piece.substr(3, 2), nullptr, 16)));
        size_t start = at_start && piece.compare(0, kSpaceSymbol.size(), kSpaceSymbol) == 0 ? kSpaceSymbol.size() : 0;
        std::string text;
        for (size_t i = start; i < piece.size();) {
            if (piece.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
                text += ' ';
                i += kSpaceSymbol.size();
            } else {
                text += piece[i++];
            }
        }
        return text;
    }

    int bos_id() const override { return processor_.bos_id(); }
    int eos_id() const override { return processor_.eos_id(); }
    int piece_count() const override { return processor_.GetPieceSize(); }
    int token_id(const std::string &piece) const override {
        int id = processor_.PieceToId(piece);
        return processor_.IdToPiece(id) == piece ? id : -1; /* PieceToId answers unk for what it does not know */
    }

  private:
    sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::string Tokenizer::decode(const std::vector<int> &ids) const {
    std::string text;
    for (int id : ids) text += token_bytes(id, text.empty());
    return text;
}

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string &path) {
    return std::unique_ptr<Tokenizer>(new SentencePieceTokenizer(path));
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path, const std::string &family) {
    if (path.empty()) throw EngineError(EngineError::Kind::load, "no tokenizer given (--tokenizer)");
    if (family == "smollm2") return load_byte_pair_tokenizer(path, PreTokenizer::starcoder);
    if (family == "qwen2") return load_byte_pair_tokenizer(path, PreTokenizer::qwen2);
    bool byte_pair = family == "wizardcoder";
    if (family.empty()) { /* inferred from the path: BPE comes as a directory or vocab.json */
        struct stat info {};
        byte_pair = (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) ||
                    (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0);
    }
    if (byte_pair) return load_byte_pair_tokenizer(path);
    return load_sentencepiece_tokenizer(path);
}

}  // namespace tpu
