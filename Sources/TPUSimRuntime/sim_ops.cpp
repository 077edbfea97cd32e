#include "sim_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tpusim {
namespace {

void grow(std::vector<float> &buffer, size_t size) {
    if (buffer.size() < size) buffer.resize(size);
}

void rmsnorm(const float *x, const float *weight, size_t n, float eps, float *out) {
    float sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i] * x[i];
    float scale = 1.0f / std::sqrt(sum / float(n) + eps);
    for (size_t i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

// out[cols] = in[rows] · W[rows, cols] (row-major).
void matvec(const float *in, const float *w, size_t rows, size_t cols, float *out) {
    std::memset(out, 0, cols * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        const float a = in[r];
        const float *row = w + r * cols;
        for (size_t c = 0; c < cols; c++) out[c] += a * row[c];
    }
}

// Rotate-half RoPE in place on `heads` vectors of head_dim D at position `position`.
void rope(float *vectors, size_t heads, size_t D, int32_t position, float theta, Workspace &ws) {
    size_t half = D / 2;
    grow(ws.rope_cos, half);
    grow(ws.rope_sin, half);
    for (size_t j = 0; j < half; j++) {
        double angle = double(position) * std::pow(double(theta), -2.0 * double(j) / double(D));
        ws.rope_cos[j] = float(std::cos(angle));
        ws.rope_sin[j] = float(std::sin(angle));
    }
    for (size_t h = 0; h < heads; h++) {
        float *v = vectors + h * D;
        for (size_t j = 0; j < half; j++) {
            float a = v[j], b = v[j + half];
            v[j] = a * ws.rope_cos[j] - b * ws.rope_sin[j];
            v[j + half] = b * ws.rope_cos[j] + a * ws.rope_sin[j];
        }
    }
}

// q, k, v of one row (k, v written to the given destinations), RoPE applied to q and k.
void project_qkv(const SimStage &stage, const float *x, int32_t position, float *q, float *k, float *v,
                 Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden, HD = size_t(p.heads) * p.head_dim, KD = size_t(p.kv_heads) * p.head_dim;
    grow(ws.h, H);
    rmsnorm(x, stage.weight(Weight::attn_norm), H, p.eps, ws.h.data());
    matvec(ws.h.data(), stage.weight(Weight::wq), H, HD, q);
    matvec(ws.h.data(), stage.weight(Weight::wk), H, KD, k);
    matvec(ws.h.data(), stage.weight(Weight::wv), H, KD, v);
    if (p.attention_bias) { // Qwen: q_proj, k_proj and v_proj have biases, added before RoPE
        const float *bq = stage.weight(Weight::bq), *bk = stage.weight(Weight::bk), *bv = stage.weight(Weight::bv);
        for (size_t i = 0; i < HD; i++) q[i] += bq[i];
        for (size_t i = 0; i < KD; i++) {
            k[i] += bk[i];
            v[i] += bv[i];
        }
    }
    rope(q, p.heads, p.head_dim, position, p.theta, ws);
    rope(k, p.kv_heads, p.head_dim, position, p.theta, ws);
}

// Attention of one query row over `keys` rows: key j is `key_row(j)`; mask[j] (times −10000 when the mask is a
// flag) added to score j. Result → out[HD].
template <typename KeyRow, typename ValueRow>
void attend(const SimStage &stage, const float *q, size_t keys, KeyRow key_row, ValueRow value_row,
            const float *mask, float *out, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t D = p.head_dim, group = p.heads / p.kv_heads;
    const float scale = 1.0f / std::sqrt(float(D));
    // ChatGLM2-TPU (2023) adds mask·(−10000): its mask is 1.0 where masked, 0 where visible.
    const float mask_scale = p.mask_is_flag ? -10000.0f : 1.0f;
    grow(ws.scores, keys);
    float *scores = ws.scores.data();
    for (size_t n = 0; n < p.heads; n++) {
        const size_t kv_head = n / group;
        const float *qn = q + n * D;
        float best = -INFINITY;
        for (size_t j = 0; j < keys; j++) {
            const float *kj = key_row(j) + kv_head * D;
            float dot = 0;
            for (size_t d = 0; d < D; d++) dot += qn[d] * kj[d];
            scores[j] = dot * scale + mask[j] * mask_scale;
            if (scores[j] > best) best = scores[j];
        }
        float total = 0;
        for (size_t j = 0; j < keys; j++) {
            scores[j] = std::exp(scores[j] - best);
            total += scores[j];
        }
        float *on = out + n * D;
        std::memset(on, 0, D * sizeof(float));
        for (size_t j = 0; j < keys; j++) {
            const float weight = scores[j] / total;
            const float *vj = value_row(j) + kv_head * D;
            for (size_t d = 0; d < D; d++) on[d] += weight * vj[d];
        }
    }
}

// x += attention·Wo; x += mlp(rmsnorm(x)).
void finish_row(const SimStage &stage, float *x, const float *attention, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden, HD = size_t(p.heads) * p.head_dim, F = p.ffn;
    grow(ws.h, H);
    grow(ws.gate, F);
    grow(ws.up, F);
    matvec(attention, stage.weight(Weight::wo), HD, H, ws.h.data());
    for (size_t i = 0; i < H; i++) x[i] += ws.h[i];
    rmsnorm(x, stage.weight(Weight::mlp_norm), H, p.eps, ws.h.data());
    matvec(ws.h.data(), stage.weight(Weight::w_gate), H, F, ws.gate.data());
    matvec(ws.h.data(), stage.weight(Weight::w_up), H, F, ws.up.data());
    for (size_t i = 0; i < F; i++) {
        const float g = ws.gate[i];
        ws.gate[i] = g / (1.0f + std::exp(-g)) * ws.up[i];
    }
    matvec(ws.gate.data(), stage.weight(Weight::w_down), F, H, ws.h.data());
    for (size_t i = 0; i < H; i++) x[i] += ws.h[i];
}

// The wizardcoder layout's pieces.
void layernorm(const float *x, const float *gain, const float *bias, size_t n, float eps, float *out) {
    float mean = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= float(n);
    float variance = 0;
    for (size_t i = 0; i < n; i++) variance += (x[i] - mean) * (x[i] - mean);
    float scale = 1.0f / std::sqrt(variance / float(n) + eps);
    for (size_t i = 0; i < n; i++) out[i] = (x[i] - mean) * scale * gain[i] + bias[i];
}

float gelu(float u) { return 0.5f * u * (1.0f + std::tanh(0.7978845608f * (u + 0.044715f * u * u * u))); }

// q of one row into q[HD]; its past row [k | v] into row[2D].
void wizardcoder_qkv(const SimStage &stage, const float *x, float *q, float *row, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden, HD = size_t(p.heads) * p.head_dim, D = p.head_dim;
    grow(ws.h, H);
    layernorm(x, stage.weight(Weight::attn_norm), stage.weight(Weight::attn_norm_bias), H, p.eps, ws.h.data());
    matvec(ws.h.data(), stage.weight(Weight::wq), H, HD, q);
    matvec(ws.h.data(), stage.weight(Weight::wk), H, D, row);
    matvec(ws.h.data(), stage.weight(Weight::wv), H, D, row + D);
}

// x += attention·Wo; x += gelu(layernorm(x)·Wup)·Wdown.
void wizardcoder_finish_row(const SimStage &stage, float *x, const float *attention, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden, HD = size_t(p.heads) * p.head_dim, F = p.ffn;
    grow(ws.h, H);
    grow(ws.up, F);
    matvec(attention, stage.weight(Weight::wo), HD, H, ws.h.data());
    for (size_t i = 0; i < H; i++) x[i] += ws.h[i];
    layernorm(x, stage.weight(Weight::mlp_norm), stage.weight(Weight::mlp_norm_bias), H, p.eps, ws.h.data());
    matvec(ws.h.data(), stage.weight(Weight::w_up), H, F, ws.up.data());
    for (size_t i = 0; i < F; i++) ws.up[i] = gelu(ws.up[i]);
    matvec(ws.up.data(), stage.weight(Weight::w_down), F, H, ws.h.data());
    for (size_t i = 0; i < H; i++) x[i] += ws.h[i];
}

} // namespace

bool run_embedding(const SimStage &stage, const int32_t *ids, Workspace &ws, std::string &error) {
    const size_t H = stage.params.hidden;
    grow(ws.out_hidden, size_t(stage.rows) * H);
    const float *table = stage.weight(Weight::embed);
    for (size_t r = 0; r < stage.rows; r++) {
        if (ids[r] < 0 || uint32_t(ids[r]) >= stage.params.table_rows) {
            error = "input_ids[" + std::to_string(r) + "] = " + std::to_string(ids[r]) + " is outside the table of " +
                    std::to_string(stage.params.table_rows) + " rows";
            return false;
        }
        std::memcpy(ws.out_hidden.data() + r * H, table + size_t(ids[r]) * H, H * sizeof(float));
    }
    return true;
}

void run_prompt_block(const SimStage &stage, const float *states, const int32_t *positions, const float *mask,
                      Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t S = p.seq_len, H = p.hidden, HD = size_t(p.heads) * p.head_dim,
                 KD = size_t(p.kv_heads) * p.head_dim;
    grow(ws.out_hidden, S * H);
    grow(ws.out_k, S * KD);
    grow(ws.out_v, S * KD);
    grow(ws.q, S * HD);
    grow(ws.attention, HD);
    std::memcpy(ws.out_hidden.data(), states, S * H * sizeof(float));
    for (size_t r = 0; r < S; r++)
        project_qkv(stage, states + r * H, positions[r], ws.q.data() + r * HD, ws.out_k.data() + r * KD,
                    ws.out_v.data() + r * KD, ws);
    const float *keys = ws.out_k.data(), *values = ws.out_v.data();
    for (size_t i = 0; i < S; i++) {
        attend(stage, ws.q.data() + i * HD, S, [&](size_t j) { return keys + j * KD; },
               [&](size_t j) { return values + j * KD; }, mask + i * S, ws.attention.data(), ws);
        finish_row(stage, ws.out_hidden.data() + i * H, ws.attention.data(), ws);
    }
}

void run_cache_block(const SimStage &stage, const float *state, const int32_t *position, const float *mask,
                     const float *history_k, const float *history_v, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t S = p.seq_len, H = p.hidden, HD = size_t(p.heads) * p.head_dim,
                 KD = size_t(p.kv_heads) * p.head_dim;
    grow(ws.out_hidden, H);
    grow(ws.out_k, S * KD);
    grow(ws.out_v, S * KD);
    grow(ws.q, HD);
    grow(ws.k, KD);
    grow(ws.v, KD);
    grow(ws.attention, HD);
    std::memcpy(ws.out_hidden.data(), state, H * sizeof(float));
    project_qkv(stage, state, position[0], ws.q.data(), ws.k.data(), ws.v.data(), ws);
    const float *new_k = ws.k.data(), *new_v = ws.v.data();
    attend(stage, ws.q.data(), S + 1, [&](size_t j) { return j < S ? history_k + j * KD : new_k; },
           [&](size_t j) { return j < S ? history_v + j * KD : new_v; }, mask, ws.attention.data(), ws);
    finish_row(stage, ws.out_hidden.data(), ws.attention.data(), ws);
    if (p.layout == SimLayout::chatglm2) {
        std::memcpy(ws.out_k.data(), history_k + KD, (S - 1) * KD * sizeof(float));
        std::memcpy(ws.out_v.data(), history_v + KD, (S - 1) * KD * sizeof(float));
        std::memcpy(ws.out_k.data() + (S - 1) * KD, new_k, KD * sizeof(float));
        std::memcpy(ws.out_v.data() + (S - 1) * KD, new_v, KD * sizeof(float));
    } else {
        std::memcpy(ws.out_k.data(), new_k, KD * sizeof(float));
        std::memcpy(ws.out_v.data(), new_v, KD * sizeof(float));
    }
}

bool run_wizardcoder_embedding(const SimStage &stage, const int32_t *ids, const int32_t *positions, Workspace &ws,
                               std::string &error) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden;
    grow(ws.out_hidden, size_t(stage.rows) * H);
    const float *table = stage.weight(Weight::embed), *places = stage.weight(Weight::pos_embed);
    for (size_t r = 0; r < stage.rows; r++) {
        if (ids[r] < 0 || uint32_t(ids[r]) >= p.table_rows) {
            error = "input_ids[" + std::to_string(r) + "] = " + std::to_string(ids[r]) + " is outside the table of " +
                    std::to_string(p.table_rows) + " rows";
            return false;
        }
        if (positions[r] < 0 || uint32_t(positions[r]) >= p.seq_len) {
            error = "position_ids[" + std::to_string(r) + "] = " + std::to_string(positions[r]) +
                    " is outside the position table of " + std::to_string(p.seq_len) + " rows";
            return false;
        }
        float *out = ws.out_hidden.data() + r * H;
        const float *token = table + size_t(ids[r]) * H, *place = places + size_t(positions[r]) * H;
        for (size_t i = 0; i < H; i++) out[i] = token[i] + place[i];
    }
    return true;
}

void run_wizardcoder_prompt_block(const SimStage &stage, const float *states, const float *mask, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t S = p.seq_len, H = p.hidden, HD = size_t(p.heads) * p.head_dim, R = 2 * size_t(p.head_dim);
    grow(ws.out_hidden, S * H);
    grow(ws.out_k, S * R);
    grow(ws.q, S * HD);
    grow(ws.attention, HD);
    std::memcpy(ws.out_hidden.data(), states, S * H * sizeof(float));
    for (size_t r = 0; r < S; r++) wizardcoder_qkv(stage, states + r * H, ws.q.data() + r * HD, ws.out_k.data() + r * R, ws);
    const float *past = ws.out_k.data();
    const size_t D = p.head_dim;
    for (size_t i = 0; i < S; i++) {
        attend(stage, ws.q.data() + i * HD, S, [&](size_t j) { return past + j * R; },
               [&](size_t j) { return past + j * R + D; }, mask + i * S, ws.attention.data(), ws);
        wizardcoder_finish_row(stage, ws.out_hidden.data() + i * H, ws.attention.data(), ws);
    }
}

void run_wizardcoder_cache_block(const SimStage &stage, const float *state, const float *past, const float *mask,
                                 Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t S = p.seq_len, H = p.hidden, HD = size_t(p.heads) * p.head_dim, D = p.head_dim, R = 2 * D;
    grow(ws.out_hidden, H);
    grow(ws.out_k, (S + 1) * R);
    grow(ws.q, HD);
    grow(ws.attention, HD);
    std::memcpy(ws.out_hidden.data(), state, H * sizeof(float));
    std::memcpy(ws.out_k.data(), past, S * R * sizeof(float));
    float *row = ws.out_k.data() + S * R;
    wizardcoder_qkv(stage, state, ws.q.data(), row, ws);
    const float *keys = ws.out_k.data();
    attend(stage, ws.q.data(), S + 1, [&](size_t j) { return keys + j * R; },
           [&](size_t j) { return keys + j * R + D; }, mask, ws.attention.data(), ws);
    wizardcoder_finish_row(stage, ws.out_hidden.data(), ws.attention.data(), ws);
}

void run_lm_head(const SimStage &stage, const float *state, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t H = p.hidden, VT = p.table_rows;
    grow(ws.h, H);
    grow(ws.logits, VT);
    if (p.layout == SimLayout::wizardcoder)
        layernorm(state, stage.weight(Weight::final_norm), stage.weight(Weight::final_norm_bias), H, p.eps, ws.h.data());
    else
        rmsnorm(state, stage.weight(Weight::final_norm), H, p.eps, ws.h.data());
    matvec(ws.h.data(), stage.weight(Weight::lm), H, VT, ws.logits.data());
    size_t best = 0;
    for (size_t i = 1; i < VT; i++)
        if (ws.logits[i] > ws.logits[best]) best = i;
    ws.token = int32_t(best);
}

int32_t run_greedy_head(const SimStage &stage, const float *logits) {
    size_t best = 0;
    for (size_t i = 1; i < stage.params.table_rows; i++)
        if (logits[i] > logits[best]) best = i;
    return int32_t(best);
}

void run_penalty_sample_head(const SimStage &stage, const float *logits, const int32_t *ids, float top_p,
                             float temperature, float penalty, float *probs, int32_t *tokens, Workspace &ws) {
    const SimParams &p = stage.params;
    const size_t VT = p.table_rows, K = kPenaltySampleTopK, keep = 5;
    grow(ws.logits, VT);
    std::memcpy(ws.logits.data(), logits, VT * sizeof(float));
    // gather then scatter: every listed id is penalised once, from its original logit, however often it occurs.
    for (size_t i = 0; i < p.seq_len; i++) {
        if (ids[i] < 0 || uint32_t(ids[i]) >= VT) continue;
        const float original = logits[ids[i]];
        ws.logits[size_t(ids[i])] = original < 0 ? original * penalty : original / penalty;
    }
    std::vector<int32_t> order(VT);
    for (size_t i = 0; i < VT; i++) order[i] = int32_t(i);
    std::partial_sort(order.begin(), order.begin() + long(std::min(K, VT)), order.end(), [&](int32_t a, int32_t b) {
        return ws.logits[size_t(a)] > ws.logits[size_t(b)] || (ws.logits[size_t(a)] == ws.logits[size_t(b)] && a < b);
    });
    std::vector<double> scaled(K), softmax(K);
    for (size_t k = 0; k < K; k++) {
        tokens[k] = order[std::min(k, VT - 1)];
        scaled[k] = double(ws.logits[size_t(tokens[k])]) / double(temperature);
    }
    auto normalise = [&](const std::vector<double> &values, std::vector<double> &out) {
        double best = values[0], total = 0;
        for (double v : values) best = std::max(best, v);
        for (size_t k = 0; k < K; k++) total += out[k] = std::exp(values[k] - best);
        for (double &v : out) v /= total;
    };
    normalise(scaled, softmax);
    double cumulative = 0;
    std::vector<double> filtered(K), result(K);
    for (size_t k = 0; k < K; k++) {
        cumulative += softmax[k];
        filtered[k] = cumulative < double(top_p) || k < keep ? scaled[k] : -1000.0;
    }
    normalise(filtered, result);
    for (size_t k = 0; k < K; k++) probs[k] = float(result[k]);
}

} // namespace tpusim
