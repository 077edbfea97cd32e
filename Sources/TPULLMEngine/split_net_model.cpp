/* The LanguageModel of an LLM-TPU split bmodel: runtime session, nets, runner and tokenizer, loaded together. */
#include <sys/stat.h>

#include "generation/context_policy.h"
#include "generation/decode_loop.h"
#include "runners/transformer_runner.h"
#include "runtime/net_catalog.h"
#include "runtime/runtime_session.h"
#include "text/prompt_format.h"
#include "text/tokenizer.h"

#include <algorithm>
#include "tpu_llm_engine.h"
#include "tpu_llm_tools.h"

namespace tpu {

namespace {

std::string file_stem(const std::string &path) {
    size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    size_t dot = name.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

void require_model_file(const std::string &path) {
    struct stat info {};
    if (path.empty()) throw EngineError(EngineError::Kind::load, "no model given (--model M.bmodel)");
    if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
        throw EngineError(EngineError::Kind::load, "model " + path + " does not exist or is not a file (--model)");
}

ModelDescription describe(const EngineOptions &options, const NetCatalog &catalog) {
    ModelDescription description;
    description.name = options.model_name.empty() ? file_stem(options.model_path) : options.model_name;
    description.family = family_name(catalog.family);
    description.layout = layout_name(catalog.layout);
    description.layers = catalog.layers;
    description.seq_len = catalog.seq_len;
    description.nets = catalog.net_names;
    return description;
}

class SplitNetModel final : public LanguageModel {
  public:
    explicit SplitNetModel(const EngineOptions &options) {
        require_model_file(options.model_path);
        /* The tokenizer first: a missing file is the cheapest failure to report. */
        std::string family_hint = options.expected_family.empty() ? std::string() : options.expected_family;
        if (!family_hint.empty()) parse_family(family_hint);
        tokenizer_ = load_tokenizer(options.tokenizer_path, family_hint);
        session_.reset(new RuntimeSession(options.runtime_dir, options.device, options.model_path));
        catalog_ = discover_nets(*session_, options.expected_family, options.expected_layers);
        if (family_hint.empty() && catalog_.family == ModelFamily::wizardcoder)
            tokenizer_ = load_tokenizer(options.tokenizer_path, "wizardcoder");
        if (catalog_.family == ModelFamily::wizardcoder && tokenizer_->eos_id() < 0)
            throw EngineError(EngineError::Kind::load, "tokenizer " + options.tokenizer_path +
                                                           " has no <|endoftext|> token: WizardCoder stops on it");
        if (catalog_.family == ModelFamily::smollm2 &&
            (tokenizer_->token_id("<|im_start|>") < 0 || tokenizer_->eos_id() != tokenizer_->token_id("<|im_end|>")))
            throw EngineError(EngineError::Kind::load,
                              "tokenizer " + options.tokenizer_path +
                                  " is not SmolLM2's: the ChatML format needs <|im_start|> and an eos_token of <|im_end|> "
                                  "(vocab.json, merges.txt and tokenizer_config.json from convert_smollm2.py)");
        if (catalog_.family == ModelFamily::qwen2) {
            if (tokenizer_->token_id("<|im_start|>") < 0 || tokenizer_->token_id("<|im_end|>") < 0 ||
                tokenizer_->eos_id() < 0)
                throw EngineError(EngineError::Kind::load,
                                  "tokenizer " + options.tokenizer_path +
                                      " is not Qwen's: the ChatML format needs the control tokens <|im_start|> and "
                                      "<|im_end|> (LLM-TPU's token_config/: tokenizer.json, tokenizer_config.json)");
            /* LLM-TPU's Qwen pipeline.py stops on the tokenizer's eos_token_id (<|im_end|>, tokenizer_config.json)
             * and on <|endoftext|> (Qwen2's EOT); a base model's answer ends with the latter. */
            stop_ids_ = {tokenizer_->eos_id()};
            const int end_of_text = tokenizer_->token_id("<|endoftext|>");
            if (end_of_text >= 0 && end_of_text != tokenizer_->eos_id()) stop_ids_.push_back(end_of_text);
        }
        /* The runner allocates the KV cache and its buffers: out of device memory, the runtime says so on stdout. */
        session_->allocating([&] { runner_ = make_runner(*session_, catalog_); });
        description_ = describe(options, catalog_);
    }

    const ModelDescription &description() const override { return description_; }

    GenerationResult chat(const std::vector<ChatMessage> &messages, const SamplingOptions &options,
                          const TextCallback &on_text) override {
        Conversation conversation = split_conversation(messages);
        FittedPrompt prompt = fit_prompt(conversation, catalog_.seq_len, options.max_tokens, [&](const Conversation &c) {
            return build_prompt(catalog_.family, *tokenizer_, c);
        });
        GenerationResult result = generate_ids(prompt.ids, options, on_text);
        result.dropped_rounds = prompt.dropped_rounds;
        return result;
    }

    GenerationResult complete(const std::string &prompt, const SamplingOptions &options,
                              const TextCallback &on_text) override {
        std::vector<int> ids;
        if (tokenizer_->bos_id() >= 0) ids.push_back(tokenizer_->bos_id());
        std::vector<int> text = tokenizer_->encode(prompt);
        ids.insert(ids.end(), text.begin(), text.end());
        /* The whole context minus a token to answer with: raw text has no rounds to drop. */
        int room = catalog_.seq_len - (options.max_tokens > 0 ? std::min(options.max_tokens, catalog_.seq_len / 4) : 1);
        if (int(ids.size()) > room)
            throw EngineError(EngineError::Kind::context,
                              "the prompt needs " + std::to_string(ids.size()) + " tokens but the context holds " +
                                  std::to_string(room) + " (seq_len " + std::to_string(catalog_.seq_len) +
                                  " minus room for the answer); shorten the prompt");
        return generate_ids(ids, options, on_text);
    }

    GenerationResult generate_ids(const std::vector<int> &prompt_ids, const SamplingOptions &options,
                                  const TextCallback &on_text) override {
        DecodeContext context{*runner_,           *tokenizer_, catalog_.seq_len, catalog_.vocab_rows,
                              warned_device_sampling_, stop_ids_};
        return run_decode_loop(context, prompt_ids, options, on_text);
    }

    int64_t npu_memory_used_bytes() const override { return session_->memory_used_bytes(); }

  private:
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<RuntimeSession> session_;
    NetCatalog catalog_;
    std::unique_ptr<TransformerRunner> runner_;
    ModelDescription description_;
    bool warned_device_sampling_ = false;
    std::vector<int> stop_ids_; /* empty: the tokenizer's eos */
};

}  // namespace

std::unique_ptr<LanguageModel> load_language_model(const EngineOptions &options) {
    return std::unique_ptr<LanguageModel>(new SplitNetModel(options));
}

ModelDescription inspect_model(const EngineOptions &options) {
    require_model_file(options.model_path);
    RuntimeSession session(options.runtime_dir, options.device, options.model_path);
    return describe(options, discover_nets(session, options.expected_family, options.expected_layers));
}

}  // namespace tpu
