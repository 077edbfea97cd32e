#include "net_catalog.h"

#include <algorithm>
#include <cstdlib>

#include "net_checks.h"
#include "tpu_llm_engine.h"

namespace tpu {

NetSpec read_net(const RuntimeSession &session, const std::string &name) {
    const bm_net_info_t *info = session.net_info(name);
    if (info == nullptr) throw load_error("the runtime has no description of net " + name);
    if (info->stage_num < 1 || info->stages == nullptr) throw load_error("net " + name + " has no stage");
    NetSpec net;
    net.name = name;
    auto read = [&](int count, const char **names, const bm_data_type_t *dtypes, const bm_shape_t *shapes) {
        std::vector<TensorSpec> tensors;
        for (int i = 0; i < count; ++i) {
            TensorSpec tensor;
            tensor.name = names != nullptr && names[i] != nullptr ? names[i] : "#" + std::to_string(i);
            tensor.dtype = dtypes[i];
            tensor.shape = shapes[i];
            tensor.bytes = element_count(tensor.shape) * dtype_size(tensor.dtype);
            tensors.push_back(tensor);
        }
        return tensors;
    };
    net.inputs = read(info->input_num, info->input_names, info->input_dtypes, info->stages[0].input_shapes);
    net.outputs = read(info->output_num, info->output_names, info->output_dtypes, info->stages[0].output_shapes);
    return net;
}

size_t element_count(const bm_shape_t &shape) {
    size_t count = 1;
    for (int d = 0; d < shape.num_dims; ++d) count *= size_t(std::max(shape.dims[d], 0));
    return count;
}

void require_shape(const NetSpec &net, const TensorSpec &tensor, std::vector<int> dims) {
    bool same = tensor.shape.num_dims == int(dims.size());
    for (size_t i = 0; same && i < dims.size(); ++i) same = dims[i] < 0 || tensor.shape.dims[i] == dims[i];
    if (!same) {
        std::string wanted = "[";
        for (size_t i = 0; i < dims.size(); ++i) wanted += (i ? "," : "") + (dims[i] < 0 ? std::string("*") : std::to_string(dims[i]));
        throw load_error("net " + net.name + " tensor " + tensor.name + " has shape " + shape_text(tensor.shape) +
                         ", expected " + wanted + "]");
    }
}

void require_elements(const NetSpec &net, const TensorSpec &tensor, size_t count, const std::string &wanted) {
    if (element_count(tensor.shape) != count)
        throw load_error("net " + net.name + " tensor " + tensor.name + " has shape " + shape_text(tensor.shape) +
                         ", expected " + wanted);
}

void require_counts(const NetSpec &net, size_t inputs, size_t outputs) {
    if (net.inputs.size() != inputs || net.outputs.size() != outputs)
        throw load_error("net " + net.name + " has " + std::to_string(net.inputs.size()) + " inputs and " +
                         std::to_string(net.outputs.size()) + " outputs, expected " + std::to_string(inputs) + " and " +
                         std::to_string(outputs));
}

TensorSpec reshaped(const TensorSpec &spec, const std::vector<int> &dims) {
    TensorSpec result = spec;
    result.shape = bm_shape_t{};
    result.shape.num_dims = int(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) result.shape.dims[i] = dims[i];
    result.bytes = element_count(result.shape) * dtype_size(spec.dtype);
    return result;
}

namespace {

/* Index N of a net named prefix + N, or -1. */
int numbered(const std::string &name, const std::string &prefix) {
    if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return -1;
    std::string digits = name.substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
    return std::atoi(digits.c_str());
}

void require_mask_dtype(bm_data_type_t dtype) {
    if (dtype != BM_FLOAT32 && dtype != BM_FLOAT16 && dtype != BM_BFLOAT16)
        throw load_error(std::string("unsupported attention mask dtype ") + dtype_name(dtype));
}

/* Block names: LLM-TPU, Llama2-TPU and Wizardcoder-TPU say block_N / block_cache_N; ChatGLM2-TPU (2023,
 * compile/export_onnx.py and demo/demo.cpp) says glm_block_N / glm_block_cache_N. */
struct BlockNames {
    std::string prompt, cache;
    std::string prompt_name(int i) const { return prompt + std::to_string(i); }
    std::string cache_name(int i) const { return cache + std::to_string(i); }
};

/* NUM_LAYERS from the block nets: indices must run 0..N-1, each with its cache net. */
int count_layers(const std::vector<std::string> &names, const BlockNames &blocks) {
    auto has = [&](const std::string &name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    std::vector<int> indices;
    for (const auto &name : names)
        if (int index = numbered(name, blocks.prompt); index >= 0) indices.push_back(index);
    std::sort(indices.begin(), indices.end());
    const int layers = int(indices.size());
    if (layers == 0) throw load_error("the model has no " + blocks.prompt + "N nets");
    for (int i = 0; i < layers; ++i) {
        if (indices[i] != i)
            throw load_error("the model's blocks are not numbered " + blocks.prompt_name(0) + ".." +
                             blocks.prompt_name(layers - 1) + ": " + blocks.prompt_name(i) + " is missing");
        if (!has(blocks.cache_name(i)))
            throw load_error("the model has " + blocks.prompt_name(i) + " but no " + blocks.cache_name(i));
    }
    return layers;
}

void describe_blocks(const RuntimeSession &session, const BlockNames &names, const NetSpec &block0, NetCatalog &catalog);
void describe_lm_head(NetCatalog &catalog, int hidden);
void describe_wizardcoder_nets(const RuntimeSession &session, const BlockNames &names, const NetSpec &block0,
                               NetCatalog &catalog);

}  // namespace

const char *family_name(ModelFamily family) {
    switch (family) {
    case ModelFamily::chatglm2: return "chatglm2";
    case ModelFamily::llama2: return "llama2";
    case ModelFamily::wizardcoder: return "wizardcoder";
    case ModelFamily::smollm2: return "smollm2";
    case ModelFamily::qwen2: return "qwen2";
    }
    return "unknown";
}

ModelFamily net_layout_family(ModelFamily family) {
    return family == ModelFamily::smollm2 || family == ModelFamily::qwen2 ? ModelFamily::llama2 : family;
}

bool uses_byte_pair_tokenizer(ModelFamily family) {
    return family == ModelFamily::wizardcoder || family == ModelFamily::smollm2 || family == ModelFamily::qwen2;
}

const char *layout_name(NetLayout layout) {
    switch (layout) {
    case NetLayout::llm_tpu: return "sophgo/LLM-TPU";
    case NetLayout::chatglm2_tpu_2023: return "sophgo/ChatGLM2-TPU (2023)";
    case NetLayout::llama2_tpu_2023: return "sophgo/Llama2-TPU (2023)";
    case NetLayout::wizardcoder_tpu_2023: return "enigma9981/Wizardcoder-TPU (2023)";
    }
    return "unknown";
}

ModelFamily parse_family(const std::string &name) {
    if (name == "chatglm2") return ModelFamily::chatglm2;
    if (name == "llama2") return ModelFamily::llama2;
    if (name == "wizardcoder") return ModelFamily::wizardcoder;
    if (name == "smollm2") return ModelFamily::smollm2;
    if (name == "qwen2") return ModelFamily::qwen2;
    throw EngineError(EngineError::Kind::input,
                      "unknown family '" + name + "': use chatglm2, llama2, wizardcoder, smollm2 or qwen2");
}

size_t dtype_size(bm_data_type_t dtype) {
    switch (dtype) {
    case BM_FLOAT32: case BM_INT32: case BM_UINT32: return 4;
    case BM_FLOAT16: case BM_INT16: case BM_UINT16: case BM_BFLOAT16: return 2;
    default: return 1;
    }
}

const char *dtype_name(bm_data_type_t dtype) {
    static const char *names[] = {"float32", "float16", "int8", "uint8", "int16", "uint16",
                                  "int32", "uint32", "bfloat16", "int4", "uint4"};
    return unsigned(dtype) < 11 ? names[dtype] : "unknown";
}

std::string shape_text(const bm_shape_t &shape) {
    std::string text = "[";
    for (int i = 0; i < shape.num_dims; ++i) text += (i ? "," : "") + std::to_string(shape.dims[i]);
    return text + "]";
}

NetCatalog discover_nets(const RuntimeSession &session, const std::string &expected_family, int expected_layers) {
    NetCatalog catalog;
    catalog.net_names = session.net_names();
    const auto &names = catalog.net_names;
    auto has = [&](const std::string &name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    for (const char *required : {"embedding", "lm_head"})
        if (!has(required))
            throw load_error(std::string("the model has no '") + required +
                             "' net: not an LLM-TPU split model (nets: " + std::to_string(names.size()) + ")");

    const bool glm_names = has("glm_block_0");
    if (glm_names && has("block_0"))
        throw load_error("the model has both block_0 and glm_block_0: it mixes two exports");
    const BlockNames block_names = glm_names ? BlockNames{"glm_block_", "glm_block_cache_"}
                                             : BlockNames{"block_", "block_cache_"};
    const int layers = count_layers(names, block_names);
    if (expected_layers > 0 && expected_layers != layers)
        throw load_error("model has " + std::to_string(layers) + " blocks (" + block_names.prompt_name(0) + ".." +
                         block_names.prompt_name(layers - 1) + ") but the profile says " + std::to_string(expected_layers) +
                         " layers");
    catalog.layers = layers;

    catalog.lm_head = read_net(session, "lm_head");
    const NetSpec embedding = read_net(session, "embedding");
    const NetSpec block0 = read_net(session, block_names.prompt_name(0));

    /* Family from the layout: WizardCoder's embedding takes positions too; ChatGLM2 is sequence first
     * ([S,1,H] hidden states), Llama2 batch first ([1,S,H]). SEQLEN comes from block_0, never the embedding,
     * whose stage 0 may be the one-token stage. */
    ModelFamily family;
    if (embedding.inputs.size() == 2) {
        family = ModelFamily::wizardcoder;
    } else {
        const bm_shape_t shape = block0.inputs.empty() ? bm_shape_t{} : block0.inputs[0].shape;
        if (shape.num_dims == 3 && shape.dims[1] == 1 && shape.dims[0] > 1) {
            family = ModelFamily::chatglm2;
            catalog.seq_len = shape.dims[0];
        } else if (shape.num_dims == 3 && shape.dims[0] == 1 && shape.dims[1] > 1) {
            family = ModelFamily::llama2;
            catalog.seq_len = shape.dims[1];
        } else {
            throw load_error("cannot tell the model family from " + block0.name + "'s input " + shape_text(shape) +
                             "; pass --family");
        }
    }
    if (glm_names && family != ModelFamily::chatglm2)
        throw load_error("the model's blocks are named glm_block_N (ChatGLM2-TPU) but laid out like " +
                         std::string(family_name(family)));
    if (!expected_family.empty()) {
        ModelFamily expected = parse_family(expected_family);
        if (net_layout_family(expected) != family)
            throw load_error(std::string("the model's nets are laid out like ") + family_name(family) +
                             " but the profile says " + family_name(expected));
        catalog.family = expected;
    } else {
        catalog.family = family;
    }
    if (family == ModelFamily::wizardcoder) {
        describe_wizardcoder_nets(session, block_names, block0, catalog);
        catalog.layout = catalog.one_dimensional_ids ? NetLayout::wizardcoder_tpu_2023 : NetLayout::llm_tpu;
    } else {
        const int H = block0.inputs[0].shape.dims[2];
        describe_embeddings(session, 1, H, family == ModelFamily::chatglm2, catalog);
        describe_blocks(session, block_names, block0, catalog);
        describe_lm_head(catalog, H);
        if (glm_names) catalog.layout = NetLayout::chatglm2_tpu_2023;
        else if (catalog.one_dimensional_ids && family == ModelFamily::llama2) catalog.layout = NetLayout::llama2_tpu_2023;
        if (glm_names && catalog.one_dimensional_ids == false)
            throw load_error("the model's blocks are named glm_block_N (ChatGLM2-TPU, 2023) but its embedding takes " +
                             shape_text(catalog.embedding.inputs[0].shape) + " ids, not [SEQLEN]");
    }
    /* ChatGLM2-TPU's export runs ChatGLM2's blocks with the README's edit of modeling_chatglm.py,
     * `attention_scores + (attention_mask * -10000.0)`, and demo/demo.cpp writes 1.0 where masked: a flag. */
    if (catalog.layout == NetLayout::chatglm2_tpu_2023) catalog.mask_masked_value = 1.0f;
    else if (family == ModelFamily::wizardcoder) catalog.mask_masked_value = -1000.0f;
    return catalog;
}

namespace {

/* ChatGLM2 (sequence first, KV cache [S,1,KVH,D] returned whole by the cache block) and Llama2 (batch first, the
 * cache block returns the new row [1,1,KVH,D]); the same tensors in LLM-TPU and in the 2023 repositories. */
void describe_blocks(const RuntimeSession &session, const BlockNames &names, const NetSpec &block0, NetCatalog &catalog) {
    const ModelFamily family = net_layout_family(catalog.family);
    const int layers = catalog.layers, S = catalog.seq_len;
    const int H = block0.inputs[0].shape.dims[2];
    const std::string mask = "[1,1," + std::to_string(S) + "," + std::to_string(S) + "]";
    const std::string step_mask = "[1,1,1," + std::to_string(S + 1) + "]";
    for (int i = 0; i < layers; ++i) {
        NetSpec block = i == 0 ? block0 : read_net(session, names.prompt_name(i));
        NetSpec cache = read_net(session, names.cache_name(i));
        require_counts(block, 3, 3);
        require_counts(cache, 5, 3);
        bool glm = family == ModelFamily::chatglm2;
        require_shape(block, block.inputs[0], glm ? std::vector<int>{S, 1, H} : std::vector<int>{1, S, H});
        require_shape(block, block.inputs[1], {1, S});
        require_elements(block, block.inputs[2], size_t(S) * S, mask);
        require_shape(cache, cache.inputs[0], {1, 1, H});
        require_shape(cache, cache.inputs[1], {1, 1});
        require_elements(cache, cache.inputs[2], size_t(S) + 1, step_mask);
        const TensorSpec &k = block.outputs[1];
        require_shape(block, k, glm ? std::vector<int>{S, 1, -1, -1} : std::vector<int>{1, S, -1, -1});
        require_shape(cache, cache.inputs[3], glm ? std::vector<int>{S, 1, -1, -1} : std::vector<int>{1, S, -1, -1});
        require_shape(cache, cache.outputs[1], glm ? std::vector<int>{S, 1, -1, -1} : std::vector<int>{1, 1, -1, -1});
        if (block.inputs[1].dtype != BM_INT32 || cache.inputs[1].dtype != BM_INT32)
            throw load_error("net " + block.name + " takes position ids as " + dtype_name(block.inputs[1].dtype) +
                             ", expected int32");
        if (block.inputs[2].dtype != block0.inputs[2].dtype || cache.inputs[2].dtype != block0.inputs[2].dtype)
            throw load_error("the blocks disagree on the attention mask's dtype");
        catalog.blocks.push_back(block);
        catalog.cache_blocks.push_back(cache);
    }
    catalog.mask_dtype = block0.inputs[2].dtype;
    require_mask_dtype(catalog.mask_dtype);
}

/* lm_head takes one hidden row ([1,H], or [H] in Wizardcoder-TPU) and returns either the argmax token (int32,
 * one element: [1,1], or [1] in Wizardcoder-TPU) or the logits. */
void describe_lm_head(NetCatalog &catalog, int hidden) {
    require_counts(catalog.lm_head, 1, 1);
    require_elements(catalog.lm_head, catalog.lm_head.inputs[0], size_t(hidden), "[1," + std::to_string(hidden) + "]");
    const TensorSpec &head_out = catalog.lm_head.outputs[0];
    if (head_out.dtype == BM_INT32) {
        require_elements(catalog.lm_head, head_out, 1, "[1,1] (one token)");
        catalog.lm_head_returns_token = true;
    } else if (head_out.dtype == BM_FLOAT32 || head_out.dtype == BM_FLOAT16 || head_out.dtype == BM_BFLOAT16) {
        catalog.vocab_rows = int(element_count(head_out.shape));
    } else {
        throw load_error(std::string("lm_head returns ") + dtype_name(head_out.dtype) +
                         ": expected an int32 token or float logits");
    }
}

/* WizardCoder (LLM-TPU, and Wizardcoder-TPU 2023 with the same bytes in fewer dimensions): block_i (hidden, mask)
 * → (hidden, past); block_cache_i (hidden, past, mask) → (hidden, current_cache of SEQLEN+1 rows); the embedding
 * takes ids and positions (embedding_nets.cpp). */
void describe_wizardcoder_nets(const RuntimeSession &session, const BlockNames &names, const NetSpec &block0,
                               NetCatalog &catalog) {
    require_counts(block0, 2, 2);
    const TensorSpec &states = block0.inputs[0];
    if (states.shape.num_dims != 3 || states.shape.dims[0] != 1 || states.shape.dims[1] < 2)
        throw load_error("net " + block0.name + " tensor " + states.name + " has shape " + shape_text(states.shape) +
                         ", expected [1,SEQLEN,hidden]");
    const int S = states.shape.dims[1], H = states.shape.dims[2];
    catalog.seq_len = S;
    describe_embeddings(session, 2, H, false, catalog);

    const std::string mask = "[1,1," + std::to_string(S) + "," + std::to_string(S) + "]";
    const std::string step_mask = "[1,1,1," + std::to_string(S + 1) + "]";
    for (int i = 0; i < catalog.layers; ++i) {
        NetSpec block = i == 0 ? block0 : read_net(session, names.prompt_name(i));
        NetSpec cache = read_net(session, names.cache_name(i));
        require_counts(block, 2, 2);
        require_counts(cache, 3, 2);
        require_shape(block, block.inputs[0], {1, S, H});
        require_elements(block, block.inputs[1], size_t(S) * S, mask);
        require_shape(block, block.outputs[0], {1, S, H});
        require_shape(block, block.outputs[1], {1, S, -1});
        const int row = block.outputs[1].shape.dims[2];
        require_shape(cache, cache.inputs[0], {1, 1, H});
        require_shape(cache, cache.inputs[1], {1, S, row});
        require_elements(cache, cache.inputs[2], size_t(S) + 1, step_mask);
        require_shape(cache, cache.outputs[0], {1, 1, H});
        require_shape(cache, cache.outputs[1], {1, S + 1, row});
        if (block.inputs[1].dtype != block0.inputs[1].dtype || cache.inputs[2].dtype != block0.inputs[1].dtype)
            throw load_error("the blocks disagree on the attention mask's dtype");
        if (cache.inputs[1].dtype != block.outputs[1].dtype || cache.outputs[1].dtype != block.outputs[1].dtype)
            throw load_error("net " + cache.name + " and " + block.name + " disagree on the KV cache's dtype");
        catalog.blocks.push_back(block);
        catalog.cache_blocks.push_back(cache);
    }
    catalog.mask_dtype = block0.inputs[1].dtype;
    require_mask_dtype(catalog.mask_dtype);
    describe_lm_head(catalog, H);
}

}  // namespace

}  // namespace tpu
