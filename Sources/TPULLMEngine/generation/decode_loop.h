/* One generation: the prompt pass, then one cached step per token until EOS, a stop string, max_tokens, a full
 * context or the caller's cancellation. */
#pragma once

#include "../runners/transformer_runner.h"
#include "../text/tokenizer.h"
#include "tpu_llm_engine.h"

namespace tpu {

struct DecodeContext {
    TransformerRunner &runner;
    const Tokenizer &tokenizer;
    int seq_len;
    int vocab_rows;                      /* ids must be below this when known (> 0) */
    bool &warned_device_sampling;        /* said once per model: lm_head picks tokens itself */
    std::vector<int> stop_ids;           /* ids that end the answer (not part of it); empty: the tokenizer's eos */
};

GenerationResult run_decode_loop(DecodeContext &context, const std::vector<int> &prompt_ids,
                                 const SamplingOptions &options, const TextCallback &on_text);

}  // namespace tpu
