/* Runs the split nets of one model: a prompt pass over up to SEQLEN tokens, then one cached step per token.
 * The family runners own the KV cache and its bookkeeping; the decode loop only sees tokens and logits. */
#pragma once

#include <memory>
#include <vector>

#include "../runtime/device_buffer.h"
#include "../runtime/net_catalog.h"

namespace tpu {

/* What lm_head gave for the next position: a token chosen on the device, or logits for the host to sample. */
struct NextTokenOutput {
    bool is_token = false;
    int token = 0;
    std::vector<float> logits;
};

class TransformerRunner {
  public:
    virtual ~TransformerRunner() = default;
    /* Runs the prompt (1..SEQLEN tokens) from an empty cache. */
    virtual NextTokenOutput prompt(const std::vector<int> &ids) = 0;
    /* Feeds `token` at position token_length−1 (token_length counts it; at most SEQLEN). */
    virtual NextTokenOutput next(int token, int token_length) = 0;
};

/* The runner for the catalog's family; throws EngineError(load) for families without one. */
std::unique_ptr<TransformerRunner> make_runner(RuntimeSession &session, const NetCatalog &catalog);
std::unique_ptr<TransformerRunner> make_chatglm2_runner(RuntimeSession &session, const NetCatalog &catalog);
std::unique_ptr<TransformerRunner> make_llama2_runner(RuntimeSession &session, const NetCatalog &catalog);
std::unique_ptr<TransformerRunner> make_wizardcoder_runner(RuntimeSession &session, const NetCatalog &catalog);

/* An attention mask in `dtype` (fp32, fp16 or bf16): `masked` where not visible, 0 where visible (`masked` is
 * NetCatalog::mask_masked_value: an additive −10000/−1000, or ChatGLM2-TPU's 1.0 flag). */
std::vector<uint8_t> attention_mask_bytes(bm_data_type_t dtype, const std::vector<bool> &visible, float masked);
/* Copies one hidden row (`offset` bytes into `source`) into `input`, runs lm_head into `output`, and reads the
 * token or the logits back. */
NextTokenOutput run_lm_head_net(RuntimeSession &session, const NetCatalog &catalog, DeviceBuffer &input,
                                DeviceBuffer &output, const DeviceBuffer &source, size_t offset);

/* The buffers and helpers both layouts share. */
class SplitNetRunner : public TransformerRunner {
  protected:
    SplitNetRunner(RuntimeSession &session, const NetCatalog &catalog);

    /* The attention mask in the net's dtype: the layout's masked value (catalog) where masked, 0 where visible. */
    std::vector<uint8_t> mask_bytes(const std::vector<bool> &visible) const;
    /* Embedding of the padded prompt into hidden_[0]; returns nothing, fills the prompt inputs too. */
    void embed_prompt(const std::vector<int> &ids);
    /* Embedding of one token into step_hidden_[0], with its position and mask inputs. */
    void embed_step(int token, int position, const std::vector<bool> &visible);
    /* lm_head on `bytes` of `source` at `offset` (one hidden row). */
    NextTokenOutput run_lm_head(const DeviceBuffer &source, size_t offset);

    static bm_tensor_t tensor(const DeviceBuffer &buffer, const TensorSpec &spec) { return buffer.tensor(spec.dtype, spec.shape); }

    RuntimeSession &session_;
    const NetCatalog &catalog_;
    int seq_len_;
    DeviceBuffer prompt_ids_, prompt_positions_, prompt_mask_;
    DeviceBuffer hidden_[2];       /* prompt pass: ping-pong between blocks */
    DeviceBuffer step_id_, step_position_, step_mask_;
    DeviceBuffer step_hidden_[2];  /* cached pass */
    DeviceBuffer head_input_, head_output_;
    std::vector<DeviceBuffer> keys_, values_; /* the KV cache, one pair per layer */
};

}  // namespace tpu
