#include "sim_stage.h"

#include "net_info.h"

#include <cmath>
#include <cstring>

namespace tpusim {
namespace {

constexpr uint32_t kParamMagic = 0x4D495354; // "TSIM"
constexpr uint32_t kParamWords = 16;

const char *const kWeightNames[] = {"embed",  "attn_norm", "wq",        "wk",             "wv",
                                    "wo",     "mlp_norm",  "w_gate",    "w_up",           "w_down",
                                    "final_norm", "lm",    "pos_embed", "attn_norm_bias", "mlp_norm_bias",
                                    "final_norm_bias", "bq", "bk", "bv"};
static_assert(sizeof kWeightNames / sizeof kWeightNames[0] == size_t(Weight::count), "a name per weight");

std::string dims_text(const std::vector<uint64_t> &dims) {
    std::string text = "[";
    for (size_t i = 0; i < dims.size(); i++) text += (i ? ", " : "") + std::to_string(dims[i]);
    return text + "]";
}

const char *type_name(uint32_t type) {
    static const char *const names[] = {"float32", "float16", "int8",  "uint8",    "int16", "uint16",
                                        "int32",   "uint32",  "bfloat16", "int4", "uint4"};
    return type < 11 ? names[type] : "unknown";
}

/// Checks the stage's tensors one by one against the contract, naming the first mismatch.
class TensorCheck {
public:
    TensorCheck(const std::string &net, std::string &error) : net_(net), error_(error) {}

    bool count(const char *role, size_t actual, size_t expected) {
        if (actual == expected) return true;
        error_ = "net " + net_ + ": has " + std::to_string(actual) + " " + role + " tensors, the sim model contract says " +
                 std::to_string(expected);
        return false;
    }

    bool tensor(const char *role, size_t index, const TensorDescription &tensor, uint32_t type,
                std::vector<uint64_t> dims) {
        std::string where = "net " + net_ + ": " + role + " " + std::to_string(index) + " (" + tensor.name + ")";
        if (tensor.data_type != type) {
            error_ = where + ": data_type " + type_name(tensor.data_type) + ", expected " + type_name(type);
            return false;
        }
        if (tensor.dims != dims) {
            error_ = where + ": shape " + dims_text(tensor.dims) + ", expected " + dims_text(dims);
            return false;
        }
        uint64_t bytes = data_type_size(type);
        for (uint64_t d : dims) bytes *= d;
        if (tensor.size != bytes) {
            error_ = where + ": size " + std::to_string(tensor.size) + " bytes, expected " + std::to_string(bytes);
            return false;
        }
        return true;
    }

private:
    const std::string &net_;
    std::string &error_;
};

// Words 0..15 of binary_param, validated for internal consistency.
bool decode_params(const std::string &net, const CpuParamDescription &param, const BmodelFile &file,
                   SimParams &params, std::string &error) {
    std::string where = "net " + net + ": binary_param";
    if (!param.has_binary_param || param.param_size != kParamWords * 4) {
        error = where + " must be " + std::to_string(kParamWords * 4) + " bytes, is " + std::to_string(param.param_size);
        return false;
    }
    const uint8_t *bytes = file.blob(param.param_start, param.param_size);
    if (bytes == nullptr) {
        error = where + " {start " + std::to_string(param.param_start) + "} lies outside the binary blob";
        return false;
    }
    uint32_t w[kParamWords];
    std::memcpy(w, bytes, sizeof w);
    auto bad = [&](int word, const std::string &why) {
        error = where + " word " + std::to_string(word) + " (" + std::to_string(w[word]) + "): " + why;
        return false;
    };
    if (w[0] != kParamMagic) return bad(0, "magic is not \"TSIM\" (0x4D495354)");
    if (w[1] != 1) return bad(1, "version must be 1");
    if (int32_t(w[2]) != param.op_type) return bad(2, "op differs from cpu_param.op_type");
    if (w[3] > 2) return bad(3, "layout must be 0 (chatglm2), 1 (llama2) or 2 (wizardcoder)");
    params.op = SimOp(param.op_type);
    if ((params.op == SimOp::greedy_head || params.op == SimOp::penalty_sample_head) && w[3] != 1)
        return bad(3, "the sampling heads exist in the llama2 layout only (LLM-TPU's Qwen nets)");
    params.layout = SimLayout(w[3]);
    params.hidden = w[4];
    params.heads = w[5];
    params.kv_heads = w[6];
    params.head_dim = w[7];
    params.ffn = w[8];
    params.seq_len = w[9];
    params.table_rows = w[10];
    params.layer = w[11];
    for (int word = 4; word <= 10; word++)
        if (w[word] == 0 || w[word] > (1u << 24)) return bad(word, "dimension must be between 1 and 2^24");
    if (params.heads * params.head_dim != params.hidden) return bad(7, "heads x head dim must equal hidden");
    if (params.heads % params.kv_heads != 0) return bad(6, "heads must be a multiple of kv heads");
    const bool wizard = params.layout == SimLayout::wizardcoder;
    if (wizard && params.kv_heads != 1) return bad(6, "kv heads must be 1 in the wizardcoder layout (multi-query)");
    if (!wizard && params.head_dim % 2 != 0) return bad(7, "head dim must be even (rotate-half RoPE)");
    bool block = params.op == SimOp::prompt_block || params.op == SimOp::cache_block;
    if (!block && params.layer != 0) return bad(11, "layer index must be 0 outside blocks");
    if (block) { // a name like block_3 / block_cache_3 must carry the same index
        size_t underscore = net.find_last_of('_');
        std::string suffix = underscore == std::string::npos ? "" : net.substr(underscore + 1);
        if (!suffix.empty() && suffix.find_first_not_of("0123456789") == std::string::npos &&
            suffix.size() < 9 && std::stoul(suffix) != params.layer)
            return bad(11, "layer index differs from the net name");
    }
    if (w[12] > 1) return bad(12, "lm_head output must be 0 (fp32 logits) or 1 (int32 argmax)");
    params.argmax_output = w[12] == 1;
    std::memcpy(&params.eps, &w[13], 4);
    std::memcpy(&params.theta, &w[14], 4);
    if (!std::isfinite(params.eps) || params.eps <= 0 || params.eps > 1) return bad(13, "norm eps must be in (0, 1]");
    if (wizard) {
        if (w[14] != 0) return bad(14, "must be 0 in the wizardcoder layout (no RoPE)");
    } else if (!std::isfinite(params.theta) || params.theta <= 1) {
        return bad(14, "rope theta must be a finite float > 1");
    }
    if ((w[15] & ~uint32_t(SimVariant::seed_ranks | SimVariant::mask_is_flag | SimVariant::attention_bias |
                           SimVariant::bf16_mask)) != 0)
        return bad(15, "variant bits must be 1 (2023 tensor ranks), 2 (mask 1.0 = masked), 4 (attention biases) "
                       "and/or 8 (bfloat16 mask)");
    params.seed_ranks = (w[15] & SimVariant::seed_ranks) != 0;
    params.mask_is_flag = (w[15] & SimVariant::mask_is_flag) != 0;
    params.attention_bias = (w[15] & SimVariant::attention_bias) != 0;
    params.bf16_mask = (w[15] & SimVariant::bf16_mask) != 0;
    if (params.bf16_mask && params.layout != SimLayout::llama2)
        return bad(15, "a bfloat16 mask (bit 8) exists in the llama2 layout only (Qwen2's nets)");
    if (params.mask_is_flag && wizard) return bad(15, "the wizardcoder layout's mask is additive (bit 2 must be 0)");
    if (params.attention_bias && params.layout != SimLayout::llama2)
        return bad(15, "attention biases (bit 4) exist in the llama2 layout only (Qwen's nets)");
    return true;
}

// Tokens per launch of an embedding stage: ids are [1,n] (LLM-TPU) or [n] (the 2023 seed repositories).
uint64_t embedding_rows(const std::vector<uint64_t> &ids, bool seed_ranks) {
    if (seed_ranks) return ids.size() == 1 ? ids[0] : 0;
    return ids.size() == 2 ? ids[1] : 0;
}

// WizardCoder (LLM-TPU): ids and positions into the embedding (one stage per length), blocks without position
// inputs, one combined past per layer ([1,S,2D]: key then value of each row), the cache block returning S+1 rows.
bool check_wizardcoder_tensors(const StageDescription &stage, SimStage &sim, TensorCheck &check) {
    const SimParams &p = sim.params;
    const uint64_t S = p.seq_len, H = p.hidden, D = p.head_dim;
    const auto &in = stage.inputs;
    const auto &out = stage.outputs;
    // Wizardcoder-TPU (2023) traced ids, masks and lm_head with fewer dimensions; the bytes are the same.
    const bool seed = p.seed_ranks;
    switch (p.op) {
    case SimOp::embedding: {
        if (!check.count("input", in.size(), 2) || !check.count("output", out.size(), 1)) return false;
        uint64_t n = embedding_rows(in[0].dims, seed);
        if (n != 1 && n != S) n = S; // report against the prompt shape
        sim.rows = uint32_t(n);
        const std::vector<uint64_t> ids = seed ? std::vector<uint64_t>{n} : std::vector<uint64_t>{1, n};
        return check.tensor("input", 0, in[0], BM_INT32, ids) && check.tensor("input", 1, in[1], BM_INT32, ids) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, seed ? std::vector<uint64_t>{n, H} : std::vector<uint64_t>{1, n, H});
    }
    case SimOp::prompt_block:
        return check.count("input", in.size(), 2) && check.count("output", out.size(), 2) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, S, H}) &&
               check.tensor("input", 1, in[1], BM_FLOAT32, seed ? std::vector<uint64_t>{S, S} : std::vector<uint64_t>{1, 1, S, S}) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, {1, S, H}) &&
               check.tensor("output", 1, out[1], BM_FLOAT32, {1, S, 2 * D});
    case SimOp::cache_block:
        return check.count("input", in.size(), 3) && check.count("output", out.size(), 2) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, 1, H}) &&
               check.tensor("input", 1, in[1], BM_FLOAT32, {1, S, 2 * D}) &&
               check.tensor("input", 2, in[2], BM_FLOAT32, seed ? std::vector<uint64_t>{1, S + 1} : std::vector<uint64_t>{1, 1, 1, S + 1}) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, {1, 1, H}) &&
               check.tensor("output", 1, out[1], BM_FLOAT32, {1, S + 1, 2 * D});
    case SimOp::lm_head:
        return check.count("input", in.size(), 1) && check.count("output", out.size(), 1) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, seed ? std::vector<uint64_t>{H} : std::vector<uint64_t>{1, H}) &&
               (p.argmax_output ? check.tensor("output", 0, out[0], BM_INT32, seed ? std::vector<uint64_t>{1} : std::vector<uint64_t>{1, 1})
                                : check.tensor("output", 0, out[0], BM_FLOAT32, {1, uint64_t(p.table_rows)}));
    case SimOp::greedy_head:
    case SimOp::penalty_sample_head: break; /* refused in decode_params */
    }
    return false;
}

bool check_tensors(const std::string &net, const StageDescription &stage, SimStage &sim, std::string &error) {
    const SimParams &p = sim.params;
    const uint64_t S = p.seq_len, H = p.hidden, KVH = p.kv_heads, D = p.head_dim;
    const bool glm = p.layout == SimLayout::chatglm2;
    auto states = [&](uint64_t n) { return glm ? std::vector<uint64_t>{n, 1, H} : std::vector<uint64_t>{1, n, H}; };
    auto kv = [&](uint64_t n) { return glm ? std::vector<uint64_t>{n, 1, KVH, D} : std::vector<uint64_t>{1, n, KVH, D}; };
    TensorCheck check(net, error);
    const auto &in = stage.inputs;
    const auto &out = stage.outputs;
    if (p.layout == SimLayout::wizardcoder) return check_wizardcoder_tensors(stage, sim, check);
    const uint32_t mask_type = p.bf16_mask ? BM_BFLOAT16 : BM_FLOAT32;
    switch (p.op) {
    case SimOp::embedding: {
        if (!check.count("input", in.size(), 1) || !check.count("output", out.size(), 1)) return false;
        uint64_t n = embedding_rows(in[0].dims, p.seed_ranks);
        if (n != 1 && n != S) n = S; // report against the prompt shape
        sim.rows = uint32_t(n);
        // ChatGLM2-TPU and Llama2-TPU (2023) traced the embedding on 1-D ids: [n] → [n,H].
        if (p.seed_ranks)
            return check.tensor("input", 0, in[0], BM_INT32, {n}) && check.tensor("output", 0, out[0], BM_FLOAT32, {n, H});
        return check.tensor("input", 0, in[0], BM_INT32, {1, n}) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, states(n));
    }
    case SimOp::prompt_block:
        return check.count("input", in.size(), 3) && check.count("output", out.size(), 3) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, states(S)) &&
               check.tensor("input", 1, in[1], BM_INT32, {1, S}) &&
               check.tensor("input", 2, in[2], mask_type, {1, 1, S, S}) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, states(S)) &&
               check.tensor("output", 1, out[1], BM_FLOAT32, kv(S)) &&
               check.tensor("output", 2, out[2], BM_FLOAT32, kv(S));
    case SimOp::cache_block:
        return check.count("input", in.size(), 5) && check.count("output", out.size(), 3) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, 1, H}) &&
               check.tensor("input", 1, in[1], BM_INT32, {1, 1}) &&
               check.tensor("input", 2, in[2], mask_type, {1, 1, 1, S + 1}) &&
               check.tensor("input", 3, in[3], BM_FLOAT32, kv(S)) &&
               check.tensor("input", 4, in[4], BM_FLOAT32, kv(S)) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, {1, 1, H}) &&
               check.tensor("output", 1, out[1], BM_FLOAT32, kv(glm ? S : 1)) &&
               check.tensor("output", 2, out[2], BM_FLOAT32, kv(glm ? S : 1));
    case SimOp::lm_head:
        return check.count("input", in.size(), 1) && check.count("output", out.size(), 1) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, H}) &&
               (p.argmax_output ? check.tensor("output", 0, out[0], BM_INT32, {1, 1})
                                : check.tensor("output", 0, out[0], BM_FLOAT32, {1, uint64_t(p.table_rows)}));
    case SimOp::greedy_head:
        return check.count("input", in.size(), 1) && check.count("output", out.size(), 1) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, uint64_t(p.table_rows)}) &&
               check.tensor("output", 0, out[0], BM_INT32, {1, 1});
    case SimOp::penalty_sample_head:
        return check.count("input", in.size(), 5) && check.count("output", out.size(), 2) &&
               check.tensor("input", 0, in[0], BM_FLOAT32, {1, uint64_t(p.table_rows)}) &&
               check.tensor("input", 1, in[1], BM_INT32, {1, S}) &&
               check.tensor("input", 2, in[2], BM_FLOAT32, {1}) && check.tensor("input", 3, in[3], BM_FLOAT32, {1}) &&
               check.tensor("input", 4, in[4], BM_FLOAT32, {1}) &&
               check.tensor("output", 0, out[0], BM_FLOAT32, {1, kPenaltySampleTopK}) &&
               check.tensor("output", 1, out[1], BM_INT32, {1, kPenaltySampleTopK});
    }
    return false;
}

bool check_weights(const std::string &net, const StageDescription &stage, const BmodelFile &file, SimStage &sim,
                   std::string &error) {
    const SimParams &p = sim.params;
    const uint64_t H = p.hidden, HD = uint64_t(p.heads) * p.head_dim, KD = uint64_t(p.kv_heads) * p.head_dim,
                   F = p.ffn, VT = p.table_rows;
    std::vector<std::pair<Weight, uint64_t>> expected; // weight, float count
    switch (p.op) {
    case SimOp::embedding: expected = {{Weight::embed, VT * H}}; break;
    case SimOp::prompt_block:
    case SimOp::cache_block:
        expected = {{Weight::attn_norm, H}, {Weight::wq, H * HD},    {Weight::wk, H * KD},
                    {Weight::wv, H * KD},   {Weight::wo, HD * H},    {Weight::mlp_norm, H},
                    {Weight::w_gate, H * F}, {Weight::w_up, H * F}, {Weight::w_down, F * H}};
        if (p.attention_bias) expected.insert(expected.end(), {{Weight::bq, HD}, {Weight::bk, KD}, {Weight::bv, KD}});
        break;
    case SimOp::lm_head: expected = {{Weight::final_norm, H}, {Weight::lm, H * VT}}; break;
    case SimOp::greedy_head:
    case SimOp::penalty_sample_head: break; /* no weights */
    }
    if (p.layout == SimLayout::wizardcoder) {
        const uint64_t S = p.seq_len;
        switch (p.op) {
        case SimOp::embedding: expected = {{Weight::embed, VT * H}, {Weight::pos_embed, S * H}}; break;
        case SimOp::prompt_block:
        case SimOp::cache_block:
            expected = {{Weight::attn_norm, H}, {Weight::attn_norm_bias, H}, {Weight::wq, H * HD},
                        {Weight::wk, H * KD},   {Weight::wv, H * KD},          {Weight::wo, HD * H},
                        {Weight::mlp_norm, H},  {Weight::mlp_norm_bias, H},    {Weight::w_up, H * F},
                        {Weight::w_down, F * H}};
            break;
        case SimOp::lm_head:
            expected = {{Weight::final_norm, H}, {Weight::final_norm_bias, H}, {Weight::lm, H * VT}};
            break;
        case SimOp::greedy_head:
        case SimOp::penalty_sample_head: break; /* refused in decode_params */
        }
    }
    std::string where = "net " + net + ": coeff_mem";
    if (!stage.has_coefficients) {
        error = where + " has no binary_coeff";
        return false;
    }
    if (file.blob(stage.coeff_start, stage.coeff_size) == nullptr) {
        error = where + ".binary_coeff {start " + std::to_string(stage.coeff_start) + ", size " +
                std::to_string(stage.coeff_size) + "} lies outside the binary blob (" +
                std::to_string(file.binary_size()) + " bytes)";
        return false;
    }
    if (stage.coeff_size % 4 != 0) {
        error = where + ".binary_coeff size " + std::to_string(stage.coeff_size) + " is not a whole number of fp32";
        return false;
    }
    sim.coeff_start = stage.coeff_start;
    sim.coeff_size = stage.coeff_size;
    for (const auto &[which, floats] : expected) {
        const char *name = kWeightNames[size_t(which)];
        const WeightLocation *found = nullptr;
        for (const WeightLocation &location : stage.locations)
            if (location.name == name) {
                if (found != nullptr) {
                    error = where + ": location " + name + " appears twice";
                    return false;
                }
                found = &location;
            }
        if (found == nullptr) {
            error = where + ": no location named " + name;
            return false;
        }
        if (found->size != floats * 4) {
            error = where + ": location " + name + " size " + std::to_string(found->size) + ", expected " +
                    std::to_string(floats * 4);
            return false;
        }
        if (found->offset % 4 != 0 || found->offset > stage.coeff_size || found->size > stage.coeff_size - found->offset) {
            error = where + ": location " + name + " offset " + std::to_string(found->offset) +
                    " is unaligned or runs past binary_coeff (" + std::to_string(stage.coeff_size) + " bytes)";
            return false;
        }
        sim.weight_offsets[size_t(which)] = found->offset / 4;
    }
    return true;
}

} // namespace

bool stage_is_sim(const std::string &net, const StageDescription &stage, std::string &error) {
    bool tpu_work = stage.command_groups > 0 || stage.subnets.empty();
    for (const SubNetDescription &subnet : stage.subnets)
        if (subnet.mode == 0 || subnet.command_groups > 0) tpu_work = true;
    if (tpu_work) {
        error = "net " + net + " has TPU subnets: this is a compiled model; the simulated runtime runs sim models only";
        return false;
    }
    if (stage.subnets.size() != 1 || stage.subnets[0].cpu_params.size() != 1) {
        error = "net " + net + ": a sim model stage has exactly one CPU subnet with one cpu_param";
        return false;
    }
    int32_t op = stage.subnets[0].cpu_params[0].op_type;
    if (op < int32_t(SimOp::embedding) || op > int32_t(SimOp::penalty_sample_head)) {
        char text[32];
        std::snprintf(text, sizeof text, "0x%X", unsigned(op));
        error = "net " + net + ": cpu_param.op_type " + text + " is not a sim op (0x7E01..0x7E06)";
        return false;
    }
    return true;
}

bool describe_sim_stage(const std::string &net, const StageDescription &stage, const BmodelFile &file,
                        SimStage &result, std::string &error) {
    if (!stage_is_sim(net, stage, error)) return false;
    if (stage.is_dynamic != 0) {
        error = "net " + net + ": is_dynamic must be 0 in a sim model";
        return false;
    }
    result = SimStage{};
    return decode_params(net, stage.subnets[0].cpu_params[0], file, result.params, error) &&
           check_tensors(net, stage, result, error) && check_weights(net, stage, file, result, error);
}

} // namespace tpusim
