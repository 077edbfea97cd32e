/* Llama2 layout: batch first; the KV cache is left-aligned (row t = token t). The prompt blocks write their K/V
 * straight into the cache; each cached block returns only the new row, copied into row token_length−1. */
#include "transformer_runner.h"

namespace tpu {

namespace {

class Llama2Runner final : public SplitNetRunner {
  public:
    Llama2Runner(RuntimeSession &session, const NetCatalog &catalog) : SplitNetRunner(session, catalog) {
        const NetSpec &cache = catalog.cache_blocks[0];
        new_key_ = DeviceBuffer(session, cache.outputs[1].bytes, "the new key row");
        new_value_ = DeviceBuffer(session, cache.outputs[2].bytes, "the new value row");
    }

    NextTokenOutput prompt(const std::vector<int> &ids) override {
        const int length = int(ids.size());
        embed_prompt(ids);
        int current = 0;
        for (int i = 0; i < catalog_.layers; ++i) {
            const NetSpec &block = catalog_.blocks[i];
            std::vector<bm_tensor_t> inputs{tensor(hidden_[current], block.inputs[0]),
                                            tensor(prompt_positions_, block.inputs[1]),
                                            tensor(prompt_mask_, block.inputs[2])};
            std::vector<bm_tensor_t> outputs{tensor(hidden_[1 - current], block.outputs[0]),
                                             tensor(keys_[i], block.outputs[1]), tensor(values_[i], block.outputs[2])};
            session_.launch(block.name, inputs, outputs);
            current = 1 - current;
        }
        size_t row = catalog_.blocks.back().outputs[0].bytes / size_t(seq_len_);
        return run_lm_head(hidden_[current], size_t(length - 1) * row);
    }

    NextTokenOutput next(int token, int token_length) override {
        const int S = seq_len_;
        /* Keys 0..token_length−2 are the history, key S the new token. */
        std::vector<bool> visible(size_t(S) + 1, false);
        for (int j = 0; j < token_length - 1; ++j) visible[j] = true;
        visible[S] = true;
        embed_step(token, token_length - 1, visible);
        int current = 0;
        for (int i = 0; i < catalog_.layers; ++i) {
            const NetSpec &cache = catalog_.cache_blocks[i];
            std::vector<bm_tensor_t> inputs{tensor(step_hidden_[current], cache.inputs[0]),
                                            tensor(step_position_, cache.inputs[1]), tensor(step_mask_, cache.inputs[2]),
                                            tensor(keys_[i], cache.inputs[3]), tensor(values_[i], cache.inputs[4])};
            std::vector<bm_tensor_t> outputs{tensor(step_hidden_[1 - current], cache.outputs[0]),
                                             tensor(new_key_, cache.outputs[1]), tensor(new_value_, cache.outputs[2])};
            session_.launch(cache.name, inputs, outputs);
            current = 1 - current;
            size_t key_row = cache.outputs[1].bytes, value_row = cache.outputs[2].bytes;
            keys_[i].copy_from(new_key_, 0, size_t(token_length - 1) * key_row, key_row);
            values_[i].copy_from(new_value_, 0, size_t(token_length - 1) * value_row, value_row);
        }
        return run_lm_head(step_hidden_[current], 0);
    }

  private:
    DeviceBuffer new_key_, new_value_;
};

}  // namespace

std::unique_ptr<TransformerRunner> make_llama2_runner(RuntimeSession &session, const NetCatalog &catalog) {
    return std::unique_ptr<TransformerRunner>(new Llama2Runner(session, catalog));
}

}  // namespace tpu
