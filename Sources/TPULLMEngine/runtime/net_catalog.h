/* What the bmodel's nets say about the model: family, layer count, sequence length, tensor shapes and dtypes. */
#pragma once

#include <string>
#include <vector>

#include "runtime_session.h"

namespace tpu {

/* The model's family: its nets' layout, tokenizer and chat format. smollm2 and qwen2 (Qwen1.5 and Qwen2, both
 * Qwen2ForCausalLM) run Llama2-layout nets with a GPT-2 byte-level BPE tokenizer and the ChatML format; the nets
 * alone cannot tell them from llama2, so they are only ever named by the deployment (--family). */
enum class ModelFamily { chatglm2, llama2, wizardcoder, smollm2, qwen2 };
const char *family_name(ModelFamily family);
/* Parses "chatglm2", "llama2", "wizardcoder", "smollm2", "qwen2"; throws EngineError(input) on anything else. */
ModelFamily parse_family(const std::string &name);
/* The family whose net layout the family's bmodels use (smollm2, qwen2 → llama2). */
ModelFamily net_layout_family(ModelFamily family);
/* Families whose tokenizer is GPT-2 byte-level BPE (vocab.json + merges.txt) rather than sentencepiece. */
bool uses_byte_pair_tokenizer(ModelFamily family);

struct TensorSpec {
    std::string name;
    bm_data_type_t dtype = BM_FLOAT32;
    bm_shape_t shape{};
    size_t bytes = 0;
};

struct NetSpec {
    std::string name;
    std::vector<TensorSpec> inputs;
    std::vector<TensorSpec> outputs;
};

/* Whose export the bmodel's nets come from (docs/engine.md "Net layouts"): sophgo/LLM-TPU (2024 on), or one of
 * the 2023 seed repositories, told apart by what the nets show (names, ranks), never by a flag. */
enum class NetLayout { llm_tpu, chatglm2_tpu_2023, llama2_tpu_2023, wizardcoder_tpu_2023 };
const char *layout_name(NetLayout layout);

struct NetCatalog {
    std::vector<std::string> net_names;
    ModelFamily family = ModelFamily::llama2;
    NetLayout layout = NetLayout::llm_tpu;
    int layers = 0;
    int seq_len = 0;
    /* The two embeddings the runners launch: SEQLEN tokens and one token. Both may name the same two-stage net;
     * then the shapes of the stage not described by stages[0] are the engine's own (embedding_nets.cpp). */
    NetSpec embedding, embedding_cache, lm_head;
    std::vector<NetSpec> blocks, cache_blocks; /* block_N / block_cache_N, or glm_block_N / glm_block_cache_N */
    bool one_dimensional_ids = false;          /* embedding ids [n] (2023 seed repositories) rather than [1,n] */
    bm_data_type_t mask_dtype = BM_FLOAT32;
    /* What a masked attention entry holds; visible entries hold 0. −10000 (added to the scores) in LLM-TPU's
     * Llama2/ChatGLM2, −1000 in WizardCoder, 1.0 in ChatGLM2-TPU (2023), whose blocks add mask × −10000. */
    float mask_masked_value = -10000.0f;
    bool lm_head_returns_token = false; /* int32 token ([1,1] or [1]); otherwise logits [1, vocab_rows] */
    int vocab_rows = 0;                 /* logits width (0 when lm_head returns a token) */
};

size_t dtype_size(bm_data_type_t dtype);
const char *dtype_name(bm_data_type_t dtype);
std::string shape_text(const bm_shape_t &shape);

/* Reads every net's description and checks it against the deployment's expectations (empty / 0: infer).
 * Throws EngineError(load) with a sentence naming what does not match. */
NetCatalog discover_nets(const RuntimeSession &session, const std::string &expected_family, int expected_layers);

/* Fills catalog.embedding (SEQLEN tokens) and catalog.embedding_cache (one token) from `embedding` (two stages)
 * or `embedding` + `embedding_cache`; `inputs` is 1 (ids) or 2 (ids, positions); catalog.seq_len must be set. */
void describe_embeddings(const RuntimeSession &session, size_t inputs, int hidden, bool sequence_first, NetCatalog &catalog);

}  // namespace tpu
