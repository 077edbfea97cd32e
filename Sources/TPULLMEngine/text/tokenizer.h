/* Text ↔ ids for one model: sentencepiece (chatglm2, llama2) or GPT-2 byte-level BPE (wizardcoder, smollm2). */
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace tpu {

class Tokenizer {
  public:
    virtual ~Tokenizer() = default;
    /* Plain text to ids: no BOS/EOS, no special tokens parsed from the text. */
    virtual std::vector<int> encode(const std::string &text) const = 0;
    /* The bytes one token contributes to a decoded text; `at_start`: nothing was decoded before it (sentencepiece
     * drops the leading space there). Special and control tokens contribute nothing. May be part of a UTF-8
     * character (byte-fallback pieces, byte-level BPE). */
    virtual std::string token_bytes(int id, bool at_start) const = 0;
    /* The text of a whole id sequence. */
    std::string decode(const std::vector<int> &ids) const;
    virtual int bos_id() const = 0;  /* −1 when the tokenizer has none */
    virtual int eos_id() const = 0;
    virtual int piece_count() const = 0;
    /* The id of a piece spelled exactly so (e.g. the control token "<|im_start|>"), or −1. */
    virtual int token_id(const std::string &piece) const = 0;
};

/* How byte-level BPE splits text before merging: GPT-2's regex (WizardCoder), StarCoder's, which first
 * isolates every digit (SmolLM2), or Qwen2's regex (Qwen1.5, Qwen2; text/gpt2_pretokenizer.h). */
enum class PreTokenizer { gpt2, starcoder, qwen2 };

/* `path`: a sentencepiece .model file. Throws EngineError(load) with the reason. */
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string &path);
/* `path`: a directory holding vocab.json and merges.txt, or vocab.json itself with merges.txt beside it. */
std::unique_ptr<Tokenizer> load_byte_pair_tokenizer(const std::string &path, PreTokenizer pre_tokenizer = PreTokenizer::gpt2);
/* The tokenizer the family uses: byte-level BPE for wizardcoder (GPT-2 split) and smollm2 (StarCoder split),
 * sentencepiece otherwise; an empty family guesses from the path. */
std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path, const std::string &family);

}  // namespace tpu
