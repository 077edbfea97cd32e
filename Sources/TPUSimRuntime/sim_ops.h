// The CPU math of the four sim ops (docs/sim-models.md "Math"), fp32. Inputs are read-only; results go to the
// workspace, so outputs may alias inputs (the runtime copies results out afterwards).
#pragma once

#include "sim_stage.h"

#include <string>
#include <vector>

namespace tpusim {

/// Buffers reused across launches (they only grow).
struct Workspace {
    std::vector<float> x, h, q, k, v, attention, scores, gate, up, rope_cos, rope_sin;
    std::vector<float> out_hidden, out_k, out_v, logits;
    int32_t token = 0;
};

/// Embedding: rows of E for `ids` into ws.out_hidden. False (with `error`) on an id outside the table.
bool run_embedding(const SimStage &stage, const int32_t *ids, Workspace &ws, std::string &error);

/// Prompt block over S rows: ws.out_hidden [S,H], ws.out_k / ws.out_v [S,KVH,D].
void run_prompt_block(const SimStage &stage, const float *states, const int32_t *positions, const float *mask,
                      Workspace &ws);

/// Cache block for one token: ws.out_hidden [H]; ws.out_k / ws.out_v hold S rows (chatglm2: history rows 1..S
/// then the new row) or the new row only (llama2).
void run_cache_block(const SimStage &stage, const float *state, const int32_t *position, const float *mask,
                     const float *history_k, const float *history_v, Workspace &ws);

/// lm_head: ws.logits [VT] and ws.token (argmax, lowest index on ties).
void run_lm_head(const SimStage &stage, const float *state, Workspace &ws);

/// greedy_head (LLM-TPU's Qwen export: topk(m_logits, 1)): the index of the largest logit, the lowest on ties.
int32_t run_greedy_head(const SimStage &stage, const float *logits);

/// penalty_sample_head (LLM-TPU's Qwen export, PenaltySampleHead): logits of the ids in `ids` [S] divided by
/// `penalty` (multiplied when negative), the top 50 (largest first, lowest index on ties) divided by
/// `temperature`, those past cumulative probability `top_p` (except the first 5) set to −1000, softmax.
void run_penalty_sample_head(const SimStage &stage, const float *logits, const int32_t *ids, float top_p,
                             float temperature, float penalty, float *probs, int32_t *tokens, Workspace &ws);

// The wizardcoder layout (docs/sim-models.md "wizardcoder-sim"): a past row is [k (D) | v (D)].

/// Embedding E[id] + P[position] into ws.out_hidden. False on an id or position outside its table.
bool run_wizardcoder_embedding(const SimStage &stage, const int32_t *ids, const int32_t *positions, Workspace &ws,
                               std::string &error);

/// Prompt block over S rows: ws.out_hidden [S,H], ws.out_k the past [S,2D].
void run_wizardcoder_prompt_block(const SimStage &stage, const float *states, const float *mask, Workspace &ws);

/// Cache block for one token: ws.out_hidden [H], ws.out_k the S past rows followed by the new row [S+1,2D].
void run_wizardcoder_cache_block(const SimStage &stage, const float *state, const float *past, const float *mask,
                                 Workspace &ws);

} // namespace tpusim
