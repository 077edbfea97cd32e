/* WizardCoder layout (LLM-TPU): positions go into the embedding, not the blocks; each layer keeps one combined
 * KV cache ("past", SEQLEN rows), right-aligned (the newest token in the last row). After the prompt pass each
 * layer's past rows move to the end of their buffer; each cached block returns SEQLEN+1 rows (the past and the
 * new row), and rows 1..SEQLEN are copied back into the past. Masks are −1000 where masked (catalog), like LLM-TPU's
 * and Wizardcoder-TPU's demos.
 * The embedding net has two stages; it is launched with [1,SEQLEN] or [1,1] tensors and the runtime picks the
 * stage by shape (embedding_nets.cpp says why the engine never reads stages[1]). */
#include <algorithm>
#include <cstring>

#include "transformer_runner.h"

namespace tpu {

namespace {

class WizardCoderRunner final : public TransformerRunner {
  public:
    WizardCoderRunner(RuntimeSession &session, const NetCatalog &catalog)
        : session_(session), catalog_(catalog), seq_len_(catalog.seq_len) {
        const NetSpec &block = catalog.blocks[0];
        const NetSpec &cache = catalog.cache_blocks[0];
        const NetSpec &embedding = catalog.embedding, &step = catalog.embedding_cache;
        prompt_ids_ = DeviceBuffer(session, embedding.inputs[0].bytes, "the prompt ids");
        prompt_positions_ = DeviceBuffer(session, embedding.inputs[1].bytes, "the prompt positions");
        prompt_mask_ = DeviceBuffer(session, block.inputs[1].bytes, "the prompt attention mask");
        size_t hidden_bytes = std::max(block.inputs[0].bytes, embedding.outputs[0].bytes);
        for (auto &buffer : hidden_) buffer = DeviceBuffer(session, hidden_bytes, "the prompt hidden states");
        step_id_ = DeviceBuffer(session, step.inputs[0].bytes, "the step id");
        step_position_ = DeviceBuffer(session, step.inputs[1].bytes, "the step position");
        step_mask_ = DeviceBuffer(session, cache.inputs[2].bytes, "the step attention mask");
        size_t step_bytes = std::max(cache.inputs[0].bytes, step.outputs[0].bytes);
        for (auto &buffer : step_hidden_) buffer = DeviceBuffer(session, step_bytes, "the step hidden states");
        current_cache_ = DeviceBuffer(session, cache.outputs[1].bytes, "the cache block's output rows");
        head_input_ = DeviceBuffer(session, catalog.lm_head.inputs[0].bytes, "lm_head's input");
        head_output_ = DeviceBuffer(session, catalog.lm_head.outputs[0].bytes, "lm_head's output");
        for (int i = 0; i < catalog.layers; ++i)
            pasts_.emplace_back(session, catalog.blocks[i].outputs[1].bytes, "the KV cache of layer " + std::to_string(i));
    }

    NextTokenOutput prompt(const std::vector<int> &ids) override {
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
        std::vector<uint8_t> mask = attention_mask_bytes(catalog_.mask_dtype, visible, catalog_.mask_masked_value);
        prompt_mask_.upload(mask.data(), mask.size());
        const NetSpec &embedding = catalog_.embedding;
        std::vector<bm_tensor_t> embed_in{tensor(prompt_ids_, embedding.inputs[0]), tensor(prompt_positions_, embedding.inputs[1])};
        std::vector<bm_tensor_t> embed_out{tensor(hidden_[0], embedding.outputs[0])};
        session_.launch(embedding.name, embed_in, embed_out);

        int current = 0;
        for (int i = 0; i < catalog_.layers; ++i) {
            const NetSpec &block = catalog_.blocks[i];
            std::vector<bm_tensor_t> inputs{tensor(hidden_[current], block.inputs[0]), tensor(prompt_mask_, block.inputs[1])};
            std::vector<bm_tensor_t> outputs{tensor(hidden_[1 - current], block.outputs[0]), tensor(pasts_[i], block.outputs[1])};
            session_.launch(block.name, inputs, outputs);
            current = 1 - current;
            move_to_end(pasts_[i], block.outputs[1].bytes, length);
        }
        size_t row = catalog_.blocks.back().outputs[0].bytes / size_t(S);
        return run_lm_head_net(session_, catalog_, head_input_, head_output_, hidden_[current], size_t(length - 1) * row);
    }

    NextTokenOutput next(int token, int token_length) override {
        const int S = seq_len_;
        /* Keys 0..S−1 are the past (right-aligned), key S the new token: rows before the history are masked. */
        std::vector<bool> visible(size_t(S) + 1, true);
        for (int j = 0; j <= S - token_length; ++j) visible[j] = false;
        int32_t id = token, position = token_length - 1;
        step_id_.upload(&id, 4);
        step_position_.upload(&position, 4);
        std::vector<uint8_t> mask = attention_mask_bytes(catalog_.mask_dtype, visible, catalog_.mask_masked_value);
        step_mask_.upload(mask.data(), mask.size());
        const NetSpec &step = catalog_.embedding_cache;
        std::vector<bm_tensor_t> embed_in{tensor(step_id_, step.inputs[0]), tensor(step_position_, step.inputs[1])};
        std::vector<bm_tensor_t> embed_out{tensor(step_hidden_[0], step.outputs[0])};
        session_.launch(step.name, embed_in, embed_out);

        int current = 0;
        for (int i = 0; i < catalog_.layers; ++i) {
            const NetSpec &cache = catalog_.cache_blocks[i];
            std::vector<bm_tensor_t> inputs{tensor(step_hidden_[current], cache.inputs[0]), tensor(pasts_[i], cache.inputs[1]),
                                            tensor(step_mask_, cache.inputs[2])};
            std::vector<bm_tensor_t> outputs{tensor(step_hidden_[1 - current], cache.outputs[0]),
                                             tensor(current_cache_, cache.outputs[1])};
            session_.launch(cache.name, inputs, outputs);
            current = 1 - current;
            /* Rows 1..S of the S+1 returned become the past: the oldest row drops out, the new one is last. */
            size_t past_bytes = cache.inputs[1].bytes, row = past_bytes / size_t(S);
            pasts_[i].copy_from(current_cache_, row, 0, past_bytes);
        }
        return run_lm_head_net(session_, catalog_, head_input_, head_output_, step_hidden_[current], 0);
    }

  private:
    static bm_tensor_t tensor(const DeviceBuffer &buffer, const TensorSpec &spec) { return buffer.tensor(spec.dtype, spec.shape); }

    /* The first `length` rows go to the end of the buffer; the rows before them are zeroed. */
    void move_to_end(DeviceBuffer &buffer, size_t bytes, int length) {
        size_t row = bytes / size_t(seq_len_);
        std::vector<uint8_t> host(bytes, 0), moved(bytes, 0);
        buffer.download(host.data(), bytes);
        std::memcpy(&moved[bytes - size_t(length) * row], host.data(), size_t(length) * row);
        buffer.upload(moved.data(), bytes);
    }

    RuntimeSession &session_;
    const NetCatalog &catalog_;
    int seq_len_;
    DeviceBuffer prompt_ids_, prompt_positions_, prompt_mask_;
    DeviceBuffer hidden_[2];
    DeviceBuffer step_id_, step_position_, step_mask_;
    DeviceBuffer step_hidden_[2];
    DeviceBuffer current_cache_;
    DeviceBuffer head_input_, head_output_;
    std::vector<DeviceBuffer> pasts_;
};

}  // namespace

std::unique_ptr<TransformerRunner> make_wizardcoder_runner(RuntimeSession &session, const NetCatalog &catalog) {
    return std::unique_ptr<TransformerRunner>(new WizardCoderRunner(session, catalog));
}

}  // namespace tpu
