#include "transformer_runner.h"

#include <cstring>

#include "../runtime/half.h"
#include "tpu_llm_engine.h"

namespace tpu {

SplitNetRunner::SplitNetRunner(RuntimeSession &session, const NetCatalog &catalog)
    : session_(session), catalog_(catalog), seq_len_(catalog.seq_len) {
    const NetSpec &block = catalog.blocks[0];
    const NetSpec &cache = catalog.cache_blocks[0];
    prompt_ids_ = DeviceBuffer(session, catalog.embedding.inputs[0].bytes, "the prompt ids");
    prompt_positions_ = DeviceBuffer(session, block.inputs[1].bytes, "the prompt positions");
    prompt_mask_ = DeviceBuffer(session, block.inputs[2].bytes, "the prompt attention mask");
    size_t hidden_bytes = std::max(block.inputs[0].bytes, catalog.embedding.outputs[0].bytes);
    for (auto &buffer : hidden_) buffer = DeviceBuffer(session, hidden_bytes, "the prompt hidden states");
    step_id_ = DeviceBuffer(session, catalog.embedding_cache.inputs[0].bytes, "the step id");
    step_position_ = DeviceBuffer(session, cache.inputs[1].bytes, "the step position");
    step_mask_ = DeviceBuffer(session, cache.inputs[2].bytes, "the step attention mask");
    size_t step_bytes = std::max(cache.inputs[0].bytes, catalog.embedding_cache.outputs[0].bytes);
    for (auto &buffer : step_hidden_) buffer = DeviceBuffer(session, step_bytes, "the step hidden states");
    head_input_ = DeviceBuffer(session, catalog.lm_head.inputs[0].bytes, "lm_head's input");
    head_output_ = DeviceBuffer(session, catalog.lm_head.outputs[0].bytes, "lm_head's output");
    for (int i = 0; i < catalog.layers; ++i) {
        keys_.emplace_back(session, catalog.blocks[i].outputs[1].bytes, "the KV cache of layer " + std::to_string(i));
        values_.emplace_back(session, catalog.blocks[i].outputs[2].bytes, "the KV cache of layer " + std::to_string(i));
    }
}

std::vector<uint8_t> attention_mask_bytes(bm_data_type_t dtype, const std::vector<bool> &visible, float masked) {
    std::vector<uint8_t> bytes(visible.size() * dtype_size(dtype));
    for (size_t i = 0; i < visible.size(); ++i) {
        float value = visible[i] ? 0.0f : masked;
        if (dtype == BM_FLOAT32) {
            std::memcpy(&bytes[i * 4], &value, 4);
        } else {
            uint16_t bits = dtype == BM_FLOAT16 ? float_to_half_bits(value) : float_to_bfloat16_bits(value);
            std::memcpy(&bytes[i * 2], &bits, 2);
        }
    }
    return bytes;
}

std::vector<uint8_t> SplitNetRunner::mask_bytes(const std::vector<bool> &visible) const {
    return attention_mask_bytes(catalog_.mask_dtype, visible, catalog_.mask_masked_value);
}

void SplitNetRunner::embed_prompt(const std::vector<int> &ids) {
    const int S = seq_len_;
    const int length = int(ids.size());
    std::vector<int32_t> padded(S, 0), positions(S, 0);
    std::vector<bool> visible(size_t(S) * S, false);
    for (int i = 0; i < length; ++i) {
        padded[i] = ids[i];
        positions[i] = i;
        for (int j = 0; j <= i; ++j) visible[size_t(i) * S + j] = true;
    }
    prompt_ids_.upload(padded.data(), padded.size() * 4);
    prompt_positions_.upload(positions.data(), positions.size() * 4);
    std::vector<uint8_t> mask = mask_bytes(visible);
    prompt_mask_.upload(mask.data(), mask.size());
    std::vector<bm_tensor_t> inputs{tensor(prompt_ids_, catalog_.embedding.inputs[0])};
    std::vector<bm_tensor_t> outputs{tensor(hidden_[0], catalog_.embedding.outputs[0])};
    session_.launch(catalog_.embedding.name, inputs, outputs);
}

void SplitNetRunner::embed_step(int token, int position, const std::vector<bool> &visible) {
    int32_t id = token, pos = position;
    step_id_.upload(&id, 4);
    step_position_.upload(&pos, 4);
    std::vector<uint8_t> mask = mask_bytes(visible);
    step_mask_.upload(mask.data(), mask.size());
    std::vector<bm_tensor_t> inputs{tensor(step_id_, catalog_.embedding_cache.inputs[0])};
    std::vector<bm_tensor_t> outputs{tensor(step_hidden_[0], catalog_.embedding_cache.outputs[0])};
    session_.launch(catalog_.embedding_cache.name, inputs, outputs);
}

NextTokenOutput run_lm_head_net(RuntimeSession &session, const NetCatalog &catalog, DeviceBuffer &input,
                                DeviceBuffer &output, const DeviceBuffer &source, size_t offset) {
    const TensorSpec &in = catalog.lm_head.inputs[0];
    const TensorSpec &out = catalog.lm_head.outputs[0];
    input.copy_from(source, offset, 0, in.bytes);
    std::vector<bm_tensor_t> inputs{input.tensor(in.dtype, in.shape)};
    std::vector<bm_tensor_t> outputs{output.tensor(out.dtype, out.shape)};
    session.launch(catalog.lm_head.name, inputs, outputs);
    NextTokenOutput result;
    if (catalog.lm_head_returns_token) {
        int32_t token = 0;
        output.download(&token, 4);
        result.is_token = true;
        result.token = token;
        return result;
    }
    std::vector<uint8_t> raw(out.bytes);
    output.download(raw.data(), raw.size());
    size_t count = raw.size() / dtype_size(out.dtype);
    result.logits.resize(count);
    for (size_t i = 0; i < count; ++i) {
        if (out.dtype == BM_FLOAT32) {
            std::memcpy(&result.logits[i], &raw[i * 4], 4);
        } else {
            uint16_t bits;
            std::memcpy(&bits, &raw[i * 2], 2);
            result.logits[i] = out.dtype == BM_FLOAT16 ? half_bits_to_float(bits) : bfloat16_bits_to_float(bits);
        }
    }
    return result;
}

NextTokenOutput SplitNetRunner::run_lm_head(const DeviceBuffer &source, size_t offset) {
    return run_lm_head_net(session_, catalog_, head_input_, head_output_, source, offset);
}

}  // namespace tpu
