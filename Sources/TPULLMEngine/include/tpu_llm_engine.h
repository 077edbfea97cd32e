/*
 * tpu-llm-engine's library: what the server and the command line need from the engine core.
 * The core (model, tokenizers, prompt formats, decode loop, sampler) implements LanguageModel; the server only
 * talks to this interface. See docs/engine-interface.md.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tpu {

/* Every failure the core reports: `what()` is one sentence saying what is wrong and what to do. */
struct EngineError : std::runtime_error {
    enum class Kind { load, input, context, runtime, cancelled };
    Kind kind;
    EngineError(Kind kind, const std::string &message) : std::runtime_error(message), kind(kind) {}
};

struct ChatMessage {
    std::string role;  /* "system", "user" or "assistant" */
    std::string content;
};

struct SamplingOptions {
    float temperature = 0.0f;    /* 0: greedy */
    float top_p = 1.0f;
    int max_tokens = -1;         /* -1: until EOS or the context is full */
    std::vector<std::string> stop;
    uint64_t seed = 0;
};

enum class StopReason { eos, length, stop, cancelled };
const char *stop_reason_name(StopReason reason); /* "eos", "length", "stop", "cancelled" */

struct GenerationResult {
    std::vector<int> prompt_ids;  /* exactly what was fed to the model */
    std::vector<int> tokens;      /* generated ids, EOS excluded */
    std::string text;             /* decoded generated text (stop string excluded) */
    StopReason stop_reason = StopReason::eos;
    int dropped_rounds = 0;       /* history rounds left out to fit the context */
    double time_to_first_token_seconds = 0;
    double decode_tokens_per_second = 0;
};

/* Called with each new piece of text as soon as it is known; return false to stop the generation. */
using TextCallback = std::function<bool(const std::string &piece)>;

struct ModelDescription {
    std::string name;     /* id shown in /v1/models */
    std::string family;   /* chatglm2, llama2, wizardcoder */
    std::string layout;   /* whose export the nets follow, e.g. "sophgo/ChatGLM2-TPU (2023)" (docs/engine.md) */
    int layers = 0;
    int seq_len = 0;
    std::vector<std::string> nets;
};

struct EngineOptions {
    std::string model_path;
    std::string tokenizer_path;
    std::string runtime_dir;       /* empty: TPU_RUNTIME_DEFAULT_DIR */
    std::string expected_family;   /* empty: inferred from the nets */
    int expected_layers = 0;       /* 0: inferred */
    int device = 0;
    std::string model_name;        /* empty: the bmodel's file stem */
};

/* A loaded model on one device. Not thread-safe: one generation at a time (the server serialises). */
class LanguageModel {
  public:
    virtual ~LanguageModel() = default;
    virtual const ModelDescription &description() const = 0;
    /* Builds the family's prompt from the history (dropping the oldest rounds if needed) and generates. */
    virtual GenerationResult chat(const std::vector<ChatMessage> &messages, const SamplingOptions &options,
                                  const TextCallback &on_text) = 0;
    /* Generation from raw text, no chat format: the tokenizer's BOS (if any) and the text (POST /v1/completions).
     * Throws EngineError(context) when the text leaves no room for max_tokens. */
    virtual GenerationResult complete(const std::string &prompt, const SamplingOptions &options,
                                      const TextCallback &on_text) = 0;
    /* Generation from ready-made ids (tests and `generate --ids`). */
    virtual GenerationResult generate_ids(const std::vector<int> &prompt_ids, const SamplingOptions &options,
                                          const TextCallback &on_text) = 0;
    /* Device memory in use in bytes, -1 when the runtime cannot say. */
    virtual int64_t npu_memory_used_bytes() const = 0;
};

/* Loads the runtime, the bmodel and the tokenizer; throws EngineError(Kind::load) with the reason. */
std::unique_ptr<LanguageModel> load_language_model(const EngineOptions &options);

}  // namespace tpu
