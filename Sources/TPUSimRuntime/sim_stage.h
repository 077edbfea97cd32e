// A sim-model stage checked against docs/sim-models.md: the 16-word binary_param decoded and validated, every
// tensor's dtype and shape and every weight Location checked against those dimensions.
#pragma once

#include "bmodel_file.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tpusim {

/// greedy_head and penalty_sample_head: the two sampling heads LLM-TPU's Qwen1.5/Qwen2 bmodels carry beside
/// lm_head (compile/export_onnx.py GreedyHead, PenaltySampleHead); no weights; llama2 layout only.
enum class SimOp : int32_t {
    embedding = 0x7E01, prompt_block = 0x7E02, cache_block = 0x7E03, lm_head = 0x7E04,
    greedy_head = 0x7E05, penalty_sample_head = 0x7E06
};
/// PenaltySampleHead's top_k (its default in the export; the outputs are [1, top_k]).
constexpr uint32_t kPenaltySampleTopK = 50;
/// Word 3. wizardcoder: learned positions in the embedding, LayerNorm, multi-query attention with one combined
/// past [1,S,2D] per layer, GELU MLP, no RoPE (docs/sim-models.md "wizardcoder-sim").
enum class SimLayout : uint32_t { chatglm2 = 0, llama2 = 1, wizardcoder = 2 };

/// Word 15, a bit set: how a 2023 seed repository laid out the same math (docs/sim-models.md "2023 layouts").
/// seed_ranks: sophgo/ChatGLM2-TPU, sophgo/Llama2-TPU and enigma9981/Wizardcoder-TPU traced the embedding on
/// 1-D ids ([n] → [n,H]); Wizardcoder-TPU also the masks ([S,S], [1,S+1]) and lm_head ([H] → [1]).
/// mask_is_flag: ChatGLM2-TPU's blocks compute scores + mask·(−10000), so its fp32 mask is 1.0 where masked.
/// attention_bias: q, k and v projections add a bias (Qwen1.5/Qwen2, whose q_proj/k_proj/v_proj have one; Llama's
/// do not); the blocks then hold the locations bq [heads·D], bk and bv [KVH·D]. llama2 layout only.
/// bf16_mask: the blocks' attention_mask is bfloat16, as in LLM-TPU's Qwen2 export (compile/export_onnx.py traces
/// in bfloat16; its demo writes 0xC61C, −9984); llama2 layout only.
enum SimVariant : uint32_t { seed_ranks = 1, mask_is_flag = 2, attention_bias = 4, bf16_mask = 8 };

/// The binary_param words.
struct SimParams {
    SimOp op = SimOp::embedding;
    SimLayout layout = SimLayout::chatglm2;
    uint32_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0, seq_len = 0, table_rows = 0, layer = 0;
    bool argmax_output = false;
    float eps = 0, theta = 0;
    bool seed_ranks = false, mask_is_flag = false, attention_bias = false, bf16_mask = false; // word 15
};

enum class Weight {
    embed, attn_norm, wq, wk, wv, wo, mlp_norm, w_gate, w_up, w_down, final_norm, lm,
    pos_embed, attn_norm_bias, mlp_norm_bias, final_norm_bias, // wizardcoder only
    bq, bk, bv,                                                 // attention biases (variant bit 4)
    count
};

/// One runnable stage: its parameters, its row count (embedding: 1 or S), and its weights.
struct SimStage {
    SimParams params;
    uint32_t rows = 0; // embedding: tokens per launch
    uint64_t coeff_start = 0, coeff_size = 0;
    uint64_t weight_offsets[size_t(Weight::count)] = {}; // in floats from the coefficient start
    std::shared_ptr<const std::vector<float>> coefficients; // set by the runtime after accounting

    const float *weight(Weight which) const { return coefficients->data() + weight_offsets[size_t(which)]; }
};

/// Refuses stages with TPU work (compiled models). Returns false with `error` naming the net.
bool stage_is_sim(const std::string &net, const StageDescription &stage, std::string &error);

/// Decodes and validates a sim stage (not its coefficients' bytes). False with `error` naming net and field.
bool describe_sim_stage(const std::string &net, const StageDescription &stage, const BmodelFile &file,
                        SimStage &result, std::string &error);

} // namespace tpusim
