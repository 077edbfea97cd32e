/* ChatGLM2 layout: sequence first; the KV cache is right-aligned (the newest token in the last row). After the
 * prompt pass each layer's K/V rows move to the end of their buffer; each cached block returns the cache
 * shifted up by one row (oldest dropped, new appended) into the same buffers. The same in LLM-TPU and in
 * ChatGLM2-TPU (2023, demo/demo.cpp: move2end, past_k[1:]); the latter's net names, two-stage embedding and
 * 1.0-masked attention mask are the catalog's business. */
#include <cstring>

#include "transformer_runner.h"

namespace tpu {

namespace {

class ChatGLM2Runner final : public SplitNetRunner {
  public:
    ChatGLM2Runner(RuntimeSession &session, const NetCatalog &catalog) : SplitNetRunner(session, catalog) {}

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
            move_to_end(keys_[i], block.outputs[1].bytes, length);
            move_to_end(values_[i], block.outputs[2].bytes, length);
        }
        size_t row = catalog_.blocks.back().outputs[0].bytes / size_t(seq_len_);
        return run_lm_head(hidden_[current], size_t(length - 1) * row);
    }

    NextTokenOutput next(int token, int token_length) override {
        const int S = seq_len_;
        /* Keys 0..S−1 are the history (right-aligned), key S the new token: rows before the history are masked. */
        std::vector<bool> visible(size_t(S) + 1, true);
        for (int j = 0; j <= S - token_length; ++j) visible[j] = false;
        embed_step(token, token_length - 1, visible);
        int current = 0;
        for (int i = 0; i < catalog_.layers; ++i) {
            const NetSpec &cache = catalog_.cache_blocks[i];
            std::vector<bm_tensor_t> inputs{tensor(step_hidden_[current], cache.inputs[0]),
                                            tensor(step_position_, cache.inputs[1]), tensor(step_mask_, cache.inputs[2]),
                                            tensor(keys_[i], cache.inputs[3]), tensor(values_[i], cache.inputs[4])};
            std::vector<bm_tensor_t> outputs{tensor(step_hidden_[1 - current], cache.outputs[0]),
                                             tensor(keys_[i], cache.outputs[1]), tensor(values_[i], cache.outputs[2])};
            session_.launch(cache.name, inputs, outputs);
            current = 1 - current;
        }
        return run_lm_head(step_hidden_[current], 0);
    }

  private:
    /* The first `length` rows go to the end of the buffer; the rows before them are zeroed. */
    void move_to_end(DeviceBuffer &buffer, size_t bytes, int length) {
        size_t row = bytes / size_t(seq_len_);
        std::vector<uint8_t> host(bytes, 0), moved(bytes, 0);
        buffer.download(host.data(), bytes);
        std::memcpy(&moved[bytes - size_t(length) * row], host.data(), size_t(length) * row);
        buffer.upload(moved.data(), bytes);
    }
};


}  // namespace

std::unique_ptr<TransformerRunner> make_chatglm2_runner(RuntimeSession &session, const NetCatalog &catalog) {
    return std::unique_ptr<TransformerRunner>(new ChatGLM2Runner(session, catalog));
}

}  // namespace tpu
