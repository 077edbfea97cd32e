/* GPT-2 byte-level BPE (WizardCoder / StarCoder, SmolLM2): vocab.json + merges.txt, and Hugging Face's
 * tokenizer_config.json when it is there (its control tokens and end-of-turn token). Text is pre-tokenized, each
 * piece's bytes are mapped to printable characters (GPT-2's byte-to-unicode table), then adjacent symbols are
 * merged, lowest merge rank first, until no ranked pair remains. */
#include <nlohmann/json.hpp>

#include <climits>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unordered_map>
#include <unordered_set>

#include "gpt2_pretokenizer.h"
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

class BytePairTokenizer final : public Tokenizer {
  public:
    BytePairTokenizer(const std::string &vocab_path, const std::string &merges_path, const std::string &config_path,
                      PreTokenizer pre_tokenizer)
        : byte_symbols_(byte_to_unicode_table()), pre_tokenizer_(pre_tokenizer) {
        for (int b = 0; b < 256; ++b) symbol_bytes_[byte_symbols_[b]] = char(b);
        nlohmann::json vocab;
        try {
            vocab = nlohmann::json::parse(read_file(vocab_path, "vocabulary"));
        } catch (const nlohmann::json::exception &error) {
            throw EngineError(EngineError::Kind::load, "tokenizer vocabulary " + vocab_path + " is not JSON: " + error.what());
        }
        if (!vocab.is_object()) throw EngineError(EngineError::Kind::load, "tokenizer vocabulary " + vocab_path + " is not a JSON object");
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            if (!it.value().is_number_integer())
                throw EngineError(EngineError::Kind::load, "tokenizer vocabulary " + vocab_path + ": token " + it.key() + " has no integer id");
            int id = it.value().get<int>();
            ids_[it.key()] = id;
            if (id >= int(pieces_.size())) pieces_.resize(size_t(id) + 1);
            pieces_[size_t(id)] = it.key();
        }
        std::istringstream merges(read_file(merges_path, "merges"));
        std::string line;
        int rank = 0;
        while (std::getline(merges, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line.rfind("#version", 0) == 0) continue;
            size_t space = line.find(' ');
            if (space == std::string::npos || space == 0 || space + 1 >= line.size())
                throw EngineError(EngineError::Kind::load, "tokenizer merges " + merges_path + ": line '" + line + "' is not 'a b'");
            ranks_.emplace(line, rank++);
        }
        auto eos = ids_.find("<|endoftext|>");
        eos_ = eos == ids_.end() ? -1 : eos->second;
        if (!config_path.empty()) read_config(config_path);
    }

    std::vector<int> encode(const std::string &text) const override {
        std::vector<int> ids;
        const auto pieces = pre_tokenizer_ == PreTokenizer::starcoder ? starcoder_pretokenize(text) : gpt2_pretokenize(text);
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
                    const std::string content = token["content"].get<std::string>();
                    const int id = parse_id(it.key(), path);
                    if (id >= int(pieces_.size())) pieces_.resize(size_t(id) + 1);
                    pieces_[size_t(id)] = content;
                    ids_[content] = id;
                    control_ids_.insert(id);
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
    std::string vocab = is_directory(path) ? directory + "/vocab.json" : path;
    std::string merges = directory + "/merges.txt";
    if (stat(vocab.c_str(), &info) != 0)
        throw EngineError(EngineError::Kind::load, "tokenizer " + path + " has no vocab.json");
    if (stat(merges.c_str(), &info) != 0)
        throw EngineError(EngineError::Kind::load, "tokenizer " + path + " has no merges.txt beside vocab.json");
    std::string config = directory + "/tokenizer_config.json";
    if (stat(config.c_str(), &info) != 0) config.clear();
    return std::unique_ptr<Tokenizer>(new BytePairTokenizer(vocab, merges, config, pre_tokenizer));
}

}  // namespace tpu
