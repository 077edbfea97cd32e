/* GPT-2 byte-level BPE (WizardCoder / StarCoder, SmolLM2, Qwen): vocab.json + merges.txt, or Hugging Face's
 * tokenizer.json (Qwen ships that and vocab.json, no merges.txt), and tokenizer_config.json when it is there (its
 * control tokens and end-of-turn token). Text is pre-tokenized, each piece's bytes are mapped to printable
 * characters (GPT-2's byte-to-unicode table), then adjacent symbols are merged, lowest merge rank first, until no
 * ranked pair remains. A tokenizer.json whose normaliser is NFC (Qwen's) has the text normalised first (text/nfc.h). */
#include <nlohmann/json.hpp>

#include <climits>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unordered_map>
#include <unordered_set>

#include "gpt2_pretokenizer.h"
#include "nfc.h"
#include "tokenizer.h"
#include "tpu_llm_engine.h"

namespace tpu {

namespace {

/* GPT-2's table: printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards, in byte order. */
std::vector<std::string> byte_to_unicode_table() {
    std::vector<std::string> table(256);
    auto utf8 = [](uint32_t code) {
        std::string s;
        if (code < 0x80) {
            s += char(code);
        } else {
            s += char(0xC0 | (code >> 6));
            s += char(0x80 | (code & 0x3F));
        }
        return s;
    };
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        table[b] = utf8(printable ? b : next++);
    }
    return table;
}

std::string read_file(const std::string &path, const char *what) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw EngineError(EngineError::Kind::load, std::string("cannot read the tokenizer's ") + what + " " + path);
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
}

nlohmann::json parse_json(const std::string &path, const char *what) {
    try {
        return nlohmann::json::parse(read_file(path, what));
    } catch (const nlohmann::json::exception &error) {
        throw EngineError(EngineError::Kind::load, std::string("tokenizer ") + what + " " + path + " is not JSON: " + error.what());
    }
}

class BytePairTokenizer final : public Tokenizer {
  public:
    /* vocab.json + merges.txt (GPT-2's files) */
    BytePairTokenizer(const std::string &vocab_path, const std::string &merges_path, const std::string &config_path,
                      PreTokenizer pre_tokenizer)
        : byte_symbols_(byte_to_unicode_table()), pre_tokenizer_(pre_tokenizer) {
        for (int b = 0; b < 256; ++b) symbol_bytes_[byte_symbols_[b]] = char(b);
        read_vocabulary(parse_json(vocab_path, "vocabulary"), vocab_path);
        std::istringstream merges(read_file(merges_path, "merges"));
        std::string line;
        while (std::getline(merges, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line.rfind("#version", 0) == 0) continue;
            add_merge(line, merges_path);
        }
        finish(config_path);
    }

    /* Hugging Face's tokenizer.json: model.vocab, model.merges ("a b" strings, or [a, b] pairs since tokenizers
     * 0.20) and added_tokens (Qwen's control tokens, numbered after the vocabulary). */
    BytePairTokenizer(const std::string &tokenizer_json_path, const std::string &config_path, PreTokenizer pre_tokenizer)
        : byte_symbols_(byte_to_unicode_table()), pre_tokenizer_(pre_tokenizer) {
        for (int b = 0; b < 256; ++b) symbol_bytes_[byte_symbols_[b]] = char(b);
        const std::string &path = tokenizer_json_path;
        const nlohmann::json whole = parse_json(path, "description");
        auto bad = [&](const std::string &why) {
            return EngineError(EngineError::Kind::load, "tokenizer description " + path + ": " + why);
        };
        if (!whole.is_object() || !whole.contains("model") || !whole["model"].is_object()) throw bad("no \"model\" object");
        const nlohmann::json &model = whole["model"];
        if (model.value("type", std::string("BPE")) != "BPE") throw bad("the model is not BPE");
        if (!model.contains("vocab") || !model.contains("merges") || !model["merges"].is_array())
            throw bad("the BPE model has no vocab or merges");
        read_vocabulary(model["vocab"], path);
        nfc_ = normaliser_is_nfc(whole.contains("normalizer") ? whole["normalizer"] : nlohmann::json());
        for (const nlohmann::json &merge : model["merges"]) {
            if (merge.is_string()) {
                add_merge(merge.get<std::string>(), path);
            } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
                add_merge(merge[0].get<std::string>() + " " + merge[1].get<std::string>(), path);
            } else {
                throw bad("a merge is neither \"a b\" nor [\"a\", \"b\"]");
            }
        }
        if (whole.contains("added_tokens") && whole["added_tokens"].is_array()) {
            for (const nlohmann::json &token : whole["added_tokens"]) {
                if (!token.is_object() || !token.contains("id") || !token.contains("content") ||
                    !token["id"].is_number_integer() || !token["content"].is_string())
                    throw bad("an added token has no integer id or no content");
                add_token(token["id"].get<int>(), token["content"].get<std::string>(), token.value("special", false));
            }
        }
        finish(config_path);
    }

    std::vector<int> encode(const std::string &text) const override {
        std::vector<int> ids;
        const std::string normalised = nfc_ ? nfc_normalize(text) : text;
        const auto pieces = pre_tokenizer_ == PreTokenizer::starcoder ? starcoder_pretokenize(normalised)
                            : pre_tokenizer_ == PreTokenizer::qwen2   ? qwen2_pretokenize(normalised)
                                                                      : gpt2_pretokenize(normalised);
        for (const std::string &piece : pieces) {
            for (const std::string &symbol : merge(piece)) {
                auto it = ids_.find(symbol);
                if (it == ids_.end())
                    throw EngineError(EngineError::Kind::input, "the tokenizer's vocabulary has no symbol for part of the text");
                ids.push_back(it->second);
            }
        }
        return ids;
    }

    std::string token_bytes(int id, bool) const override {
        if (id < 0 || id >= int(pieces_.size()) || id == eos_ || control_ids_.count(id)) return {};
        const std::string &piece = pieces_[size_t(id)];
        std::string bytes;
        for (size_t i = 0; i < piece.size();) {
            size_t length = ((unsigned char)piece[i] & 0xE0) == 0xC0 ? 2 : 1;
            auto it = symbol_bytes_.find(piece.substr(i, length));
            if (it == symbol_bytes_.end()) return piece; /* an added token written as text (e.g. <fim_prefix>) */
            bytes += it->second;
            i += length;
        }
        return bytes;
    }

    int bos_id() const override { return -1; }
    int eos_id() const override { return eos_; }
    int piece_count() const override { return int(pieces_.size()); }
    int token_id(const std::string &piece) const override {
        auto it = ids_.find(piece);
        return it == ids_.end() ? -1 : it->second;
    }

  private:
    /* Hugging Face's normalizer: {"type": "NFC"} (Qwen), possibly inside a Sequence; any other is refused rather
     * than silently skipped, since it would change the ids. */
    static bool normaliser_is_nfc(const nlohmann::json &normaliser) {
        if (normaliser.is_null()) return false;
        const std::string type = normaliser.is_object() ? normaliser.value("type", std::string()) : std::string();
        if (type == "NFC") return true;
        if (type == "Sequence" && normaliser.contains("normalizers") && normaliser["normalizers"].is_array()) {
            bool nfc = false;
            for (const nlohmann::json &part : normaliser["normalizers"]) nfc = normaliser_is_nfc(part) || nfc;
            return nfc;
        }
        throw EngineError(EngineError::Kind::load, "tokenizer normalizer '" + type + "' is not supported (only NFC)");
    }

    void read_vocabulary(const nlohmann::json &vocab, const std::string &path) {
        if (!vocab.is_object()) throw EngineError(EngineError::Kind::load, "tokenizer vocabulary " + path + " is not a JSON object");
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            if (!it.value().is_number_integer() || it.value().get<int>() < 0)
                throw EngineError(EngineError::Kind::load, "tokenizer vocabulary " + path + ": token " + it.key() + " has no integer id");
            add_token(it.value().get<int>(), it.key(), false);
        }
    }

    void add_token(int id, const std::string &piece, bool control) {
        ids_[piece] = id;
        if (id >= int(pieces_.size())) pieces_.resize(size_t(id) + 1);
        pieces_[size_t(id)] = piece;
        if (control) control_ids_.insert(id);
    }

    void add_merge(const std::string &line, const std::string &path) {
        size_t space = line.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 >= line.size())
            throw EngineError(EngineError::Kind::load, "tokenizer merges " + path + ": line '" + line + "' is not 'a b'");
        ranks_.emplace(line, int(ranks_.size()));
    }

    void finish(const std::string &config_path) {
        auto eos = ids_.find("<|endoftext|>");
        eos_ = eos == ids_.end() ? -1 : eos->second;
        if (!config_path.empty()) read_config(config_path);
    }

    /* Hugging Face's tokenizer_config.json: `added_tokens_decoder` {"id": {"content", "special"}} names the control
     * tokens (<|im_start|>, …), which decode to nothing, as with skip_special_tokens; `eos_token` is the token
     * generation stops on (SmolLM2: <|im_end|>, the end of a ChatML turn). */
    void read_config(const std::string &path) {
        std::string eos_text;
        try {
            const nlohmann::json config = nlohmann::json::parse(read_file(path, "configuration"));
            if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
                for (auto it = config["added_tokens_decoder"].begin(); it != config["added_tokens_decoder"].end(); ++it) {
                    const nlohmann::json &token = it.value();
                    if (!token.is_object() || !token.value("special", false) || !token.contains("content")) continue;
                    add_token(parse_id(it.key(), path), token["content"].get<std::string>(), true);
                }
            }
            if (config.contains("eos_token")) {
                const nlohmann::json &eos = config["eos_token"];
                eos_text = eos.is_object() ? eos.value("content", std::string()) : eos.is_null() ? std::string() : eos.get<std::string>();
            }
        } catch (const nlohmann::json::exception &error) {
            throw EngineError(EngineError::Kind::load, "tokenizer configuration " + path + " is not what Hugging Face writes: " + error.what());
        }
        if (!eos_text.empty()) {
            auto it = ids_.find(eos_text);
            if (it == ids_.end())
                throw EngineError(EngineError::Kind::load, "tokenizer configuration " + path + " names eos_token '" +
                                                               eos_text + "', which is not in the vocabulary");
            eos_ = it->second;
        }
    }

    static int parse_id(const std::string &key, const std::string &path) {
        size_t used = 0;
        int id = -1;
        try {
            id = std::stoi(key, &used);
        } catch (const std::exception &) {
        }
        if (id < 0 || used != key.size())
            throw EngineError(EngineError::Kind::load, "tokenizer configuration " + path + ": added token id '" + key + "' is not a number");
        return id;
    }

    /* The BPE symbols of one pre-tokenized piece. */
    std::vector<std::string> merge(const std::string &piece) const {
        std::vector<std::string> symbols;
        for (unsigned char b : piece) symbols.push_back(byte_symbols_[b]);
        while (symbols.size() > 1) {
            int best_rank = INT_MAX;
            size_t best = 0;
            for (size_t i = 0; i + 1 < symbols.size(); ++i) {
                auto it = ranks_.find(symbols[i] + " " + symbols[i + 1]);
                if (it != ranks_.end() && it->second < best_rank) {
                    best_rank = it->second;
                    best = i;
                }
            }
            if (best_rank == INT_MAX) break;
            /* Merge every occurrence of the best pair, left to right. */
            const std::string left = symbols[best], right = symbols[best + 1];
            std::vector<std::string> merged;
            for (size_t i = 0; i < symbols.size();) {
                if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
                    merged.push_back(left + right);
                    i += 2;
                } else {
                    merged.push_back(symbols[i++]);
                }
            }
            symbols.swap(merged);
        }
        return symbols;
    }

    std::vector<std::string> byte_symbols_;
    std::unordered_map<std::string, char> symbol_bytes_;
    std::unordered_map<std::string, int> ids_;
    std::vector<std::string> pieces_;
    std::unordered_map<std::string, int> ranks_;
    std::unordered_set<int> control_ids_;
    PreTokenizer pre_tokenizer_;
    bool nfc_ = false; /* tokenizer.json's normalizer is NFC */
    int eos_ = -1;
};

bool is_directory(const std::string &path) {
    struct stat info {};
    return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

std::unique_ptr<Tokenizer> load_byte_pair_tokenizer(const std::string &path, PreTokenizer pre_tokenizer) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0)
        throw EngineError(EngineError::Kind::load, "tokenizer " + path + " does not exist (--tokenizer)");
    std::string directory = is_directory(path) ? path : path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
    if (directory.empty()) directory = ".";
    const std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    const bool named_json = !is_directory(path) && base == "tokenizer.json";
    std::string vocab = is_directory(path) || named_json ? directory + "/vocab.json" : path;
    std::string merges = directory + "/merges.txt";
    std::string description = directory + "/tokenizer.json";
    std::string config = directory + "/tokenizer_config.json";
    if (stat(config.c_str(), &info) != 0) config.clear();
    /* GPT-2's pair of files first; Qwen's token_config/ has vocab.json and tokenizer.json but no merges.txt. */
    if (!named_json && stat(merges.c_str(), &info) == 0) {
        if (stat(vocab.c_str(), &info) != 0)
            throw EngineError(EngineError::Kind::load, "tokenizer " + path + " has no vocab.json");
        return std::unique_ptr<Tokenizer>(new BytePairTokenizer(vocab, merges, config, pre_tokenizer));
    }
    if (stat(description.c_str(), &info) == 0)
        return std::unique_ptr<Tokenizer>(new BytePairTokenizer(description, config, pre_tokenizer));
    if (stat(vocab.c_str(), &info) != 0)
        throw EngineError(EngineError::Kind::load, "tokenizer " + path + " has no vocab.json");
    throw EngineError(EngineError::Kind::load,
                      "tokenizer " + path + " has neither merges.txt nor tokenizer.json beside vocab.json");
}

}  // namespace tpu
