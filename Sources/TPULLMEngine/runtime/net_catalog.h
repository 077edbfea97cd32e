/* What the bmodel's nets say about the model: family, layer count, sequence length, tensor shapes and dtypes. */
#pragma once

#include <string>
#include <vector>

#include "runtime_session.h"

namespace tpu {

enum class ModelFamily { chatglm2, llama2, wizardcoder };
const char *family_name(ModelFamily family);
/* Parses "chatglm2", "llama2", "wizardcoder"; throws EngineError(input) on anything else. */
ModelFamily parse_family(const std::string &name);

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

struct NetCatalog {
    std::vector<std::string> net_names;
    ModelFamily family = ModelFamily::llama2;
    int layers = 0;
    int seq_len = 0;
    NetSpec embedding, embedding_cache, lm_head;
    std::vector<NetSpec> blocks, cache_blocks;
    bm_data_type_t mask_dtype = BM_FLOAT32;
    bool lm_head_returns_token = false; /* int32 [1,1] token; otherwise logits [1, vocab_rows] */
    int vocab_rows = 0;                 /* logits width (0 when lm_head returns a token) */
};

size_t dtype_size(bm_data_type_t dtype);
const char *dtype_name(bm_data_type_t dtype);
std::string shape_text(const bm_shape_t &shape);

/* Reads every net's description and checks it against the deployment's expectations (empty / 0: infer).
 * Throws EngineError(load) with a sentence naming what does not match. */
NetCatalog discover_nets(const RuntimeSession &session, const std::string &expected_family, int expected_layers);

}  // namespace tpu
