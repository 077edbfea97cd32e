#include "net_catalog.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "tpu_llm_engine.h"

namespace tpu {

namespace {

EngineError load_error(const std::string &message) { return EngineError(EngineError::Kind::load, message); }

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
            size_t count_elements = 1;
            for (int d = 0; d < tensor.shape.num_dims; ++d) count_elements *= size_t(std::max(tensor.shape.dims[d], 0));
            tensor.bytes = count_elements * dtype_size(tensor.dtype);
            tensors.push_back(tensor);
        }
        return tensors;
    };
    net.inputs = read(info->input_num, info->input_names, info->input_dtypes, info->stages[0].input_shapes);
    net.outputs = read(info->output_num, info->output_names, info->output_dtypes, info->stages[0].output_shapes);
    return net;
}

/* Index N of a net named prefix + N, or -1. */
int numbered(const std::string &name, const std::string &prefix) {
    if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return -1;
    std::string digits = name.substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
    return std::atoi(digits.c_str());
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

void require_mask_dtype(bm_data_type_t dtype) {
    if (dtype != BM_FLOAT32 && dtype != BM_FLOAT16 && dtype != BM_BFLOAT16)
        throw load_error(std::string("unsupported attention mask dtype ") + dtype_name(dtype));
}

void describe_blocks(const RuntimeSession &session, const NetSpec &block0, NetCatalog &catalog);
void describe_lm_head(NetCatalog &catalog);
void describe_wizardcoder_nets(const RuntimeSession &session, const NetSpec &block0, NetCatalog &catalog);

void require_counts(const NetSpec &net, size_t inputs, size_t outputs) {
    if (net.inputs.size() != inputs || net.outputs.size() != outputs)
        throw load_error("net " + net.name + " has " + std::to_string(net.inputs.size()) + " inputs and " +
                         std::to_string(net.outputs.size()) + " outputs, expected " + std::to_string(inputs) + " and " +
                         std::to_string(outputs));
}

}  // namespace

const char *family_name(ModelFamily family) {
    switch (family) {
    case ModelFamily::chatglm2: return "chatglm2";
    case ModelFamily::llama2: return "llama2";
    case ModelFamily::wizardcoder: return "wizardcoder";
    }
    return "unknown";
}

ModelFamily parse_family(const std::string &name) {
    if (name == "chatglm2") return ModelFamily::chatglm2;
    if (name == "llama2") return ModelFamily::llama2;
    if (name == "wizardcoder") return ModelFamily::wizardcoder;
    throw EngineError(EngineError::Kind::input, "unknown family '" + name + "': use chatglm2, llama2 or wizardcoder");
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

    /* NUM_LAYERS from block_N: indices must run 0..N-1, each with its block_cache_N. */
    std::vector<int> indices;
    for (const auto &name : names)
        if (int index = numbered(name, "block_"); index >= 0) indices.push_back(index);
    std::sort(indices.begin(), indices.end());
    int layers = int(indices.size());
    if (layers == 0) throw load_error("the model has no block_N nets");
    for (int i = 0; i < layers; ++i) {
        if (indices[i] != i) throw load_error("the model's blocks are not numbered block_0..block_" + std::to_string(layers - 1) +
                                              ": block_" + std::to_string(i) + " is missing");
        if (!has("block_cache_" + std::to_string(i)))
            throw load_error("the model has block_" + std::to_string(i) + " but no block_cache_" + std::to_string(i));
    }
    if (expected_layers > 0 && expected_layers != layers)
        throw load_error("model has " + std::to_string(layers) + " blocks (block_0..block_" + std::to_string(layers - 1) +
                         ") but the profile says " + std::to_string(expected_layers) + " layers");
    catalog.layers = layers;

    catalog.embedding = read_net(session, "embedding");
    catalog.lm_head = read_net(session, "lm_head");
    if (catalog.embedding.inputs.empty() || catalog.embedding.inputs[0].shape.num_dims < 2)
        throw load_error("net embedding has no [1,SEQLEN] input");
    const NetSpec block0 = read_net(session, "block_0");

    /* Family from the layout: WizardCoder's embedding takes positions too; ChatGLM2 is sequence first. */
    ModelFamily family;
    if (catalog.embedding.inputs.size() == 2) {
        family = ModelFamily::wizardcoder;
    } else {
        catalog.seq_len = catalog.embedding.inputs[0].shape.dims[1];
        int S = catalog.seq_len;
        if (!block0.inputs.empty() && block0.inputs[0].shape.num_dims == 3 && block0.inputs[0].shape.dims[0] == S &&
            block0.inputs[0].shape.dims[1] == 1 && S != 1) {
            family = ModelFamily::chatglm2;
        } else if (!block0.inputs.empty() && block0.inputs[0].shape.num_dims == 3 && block0.inputs[0].shape.dims[0] == 1 &&
                   block0.inputs[0].shape.dims[1] == S) {
            family = ModelFamily::llama2;
        } else {
            throw load_error("cannot tell the model family from block_0's input " +
                             (block0.inputs.empty() ? std::string("(none)") : shape_text(block0.inputs[0].shape)) +
                             "; pass --family");
        }
    }
    if (!expected_family.empty()) {
        ModelFamily expected = parse_family(expected_family);
        if (expected != family)
            throw load_error(std::string("the model's nets are laid out like ") + family_name(family) +
                             " but the profile says " + family_name(expected));
    }
    catalog.family = family;
    if (family == ModelFamily::wizardcoder) {
        describe_wizardcoder_nets(session, block0, catalog);
    } else {
        if (!has("embedding_cache"))
            throw load_error("the model has no 'embedding_cache' net: not an LLM-TPU split model (nets: " +
                             std::to_string(names.size()) + ")");
        catalog.embedding_cache = read_net(session, "embedding_cache");
        describe_blocks(session, block0, catalog);
    }
    describe_lm_head(catalog);
    return catalog;
}

namespace {

void describe_blocks(const RuntimeSession &session, const NetSpec &block0, NetCatalog &catalog) {
    const ModelFamily family = catalog.family;
    const int layers = catalog.layers, S = catalog.seq_len;
    /* Shapes the runners rely on. */
    require_counts(catalog.embedding, 1, 1);
    require_counts(catalog.embedding_cache, 1, 1);
    require_shape(catalog.embedding_cache, catalog.embedding_cache.inputs[0], {1, 1});
    int H = block0.inputs[0].shape.dims[2];
    for (int i = 0; i < layers; ++i) {
        NetSpec block = i == 0 ? block0 : read_net(session, "block_" + std::to_string(i));
        NetSpec cache = read_net(session, "block_cache_" + std::to_string(i));
        require_counts(block, 3, 3);
        require_counts(cache, 5, 3);
        bool glm = family == ModelFamily::chatglm2;
        require_shape(block, block.inputs[0], glm ? std::vector<int>{S, 1, H} : std::vector<int>{1, S, H});
        require_shape(block, block.inputs[1], {1, S});
        require_shape(block, block.inputs[2], {1, 1, S, S});
        require_shape(cache, cache.inputs[0], {1, 1, H});
        require_shape(cache, cache.inputs[1], {1, 1});
        require_shape(cache, cache.inputs[2], {1, 1, 1, S + 1});
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

void describe_lm_head(NetCatalog &catalog) {
    require_counts(catalog.lm_head, 1, 1);
    const TensorSpec &head_out = catalog.lm_head.outputs[0];
    if (head_out.dtype == BM_INT32) {
        catalog.lm_head_returns_token = true;
    } else if (head_out.dtype == BM_FLOAT32 || head_out.dtype == BM_FLOAT16 || head_out.dtype == BM_BFLOAT16) {
        int rows = 1;
        for (int d = 0; d < head_out.shape.num_dims; ++d) rows *= head_out.shape.dims[d];
        catalog.vocab_rows = rows;
    } else {
        throw load_error(std::string("lm_head returns ") + dtype_name(head_out.dtype) +
                         ": expected an int32 token or float logits");
    }
}

/* A tensor like `spec` with another shape (the embedding's other stage). */
TensorSpec reshaped(const TensorSpec &spec, std::vector<int> dims) {
    TensorSpec result = spec;
    result.shape = bm_shape_t{};
    result.shape.num_dims = int(dims.size());
    size_t count = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
        result.shape.dims[i] = dims[i];
        count *= size_t(dims[i]);
    }
    result.bytes = count * dtype_size(spec.dtype);
    return result;
}

/* WizardCoder (LLM-TPU): one `embedding` net with two stages, [1,1] and [1,SEQLEN], each taking ids and positions;
 * block_i (hidden, mask) → (hidden, past); block_cache_i (hidden, past, mask) → (hidden, current_cache of SEQLEN+1
 * rows). Our bm_stage_info_t declaration is the old 16-byte one and the runtime's may be longer, so only stages[0]
 * is ever read: SEQLEN and the hidden size come from block_0, and the engine writes both embedding shapes itself
 * ([1,SEQLEN] in catalog.embedding, [1,1] in catalog.embedding_cache); the runtime picks the stage whose input
 * shapes match the launch, as libsophon does. A model with a separate embedding_cache net works too. */
void describe_wizardcoder_nets(const RuntimeSession &session, const NetSpec &block0, NetCatalog &catalog) {
    require_counts(block0, 2, 2);
    const TensorSpec &states = block0.inputs[0];
    if (states.shape.num_dims != 3 || states.shape.dims[0] != 1 || states.shape.dims[1] < 2)
        throw load_error("net block_0 tensor " + states.name + " has shape " + shape_text(states.shape) +
                         ", expected [1,SEQLEN,hidden]");
    const int S = states.shape.dims[1], H = states.shape.dims[2];
    catalog.seq_len = S;

    NetSpec &embedding = catalog.embedding;
    require_counts(embedding, 2, 1);
    for (const TensorSpec &input : embedding.inputs)
        if (input.dtype != BM_INT32)
            throw load_error("net embedding takes " + input.name + " as " + dtype_name(input.dtype) + ", expected int32");
    const int first_length = embedding.inputs[0].shape.num_dims == 2 ? embedding.inputs[0].shape.dims[1] : -1;
    if (first_length != 1 && first_length != S)
        throw load_error("net embedding's first stage takes " + shape_text(embedding.inputs[0].shape) +
                         ", expected [1,1] or [1," + std::to_string(S) + "]");
    require_shape(embedding, embedding.inputs[1], {1, first_length});
    require_shape(embedding, embedding.outputs[0], {1, first_length, H});
    NetSpec step = embedding;
    const auto &names = catalog.net_names;
    if (std::find(names.begin(), names.end(), "embedding_cache") != names.end()) {
        step = read_net(session, "embedding_cache");
        require_counts(step, 2, 1);
        require_shape(step, step.inputs[0], {1, 1});
    } else {
        const bm_net_info_t *info = session.net_info("embedding");
        if (info == nullptr || info->stage_num < 2)
            throw load_error("net embedding has " + std::to_string(info == nullptr ? 0 : info->stage_num) +
                             " stage(s) and there is no embedding_cache net: WizardCoder needs a [1,1] and a [1," +
                             std::to_string(S) + "] embedding");
    }
    for (int length : {S, 1}) {
        NetSpec &target = length == S ? embedding : catalog.embedding_cache;
        const NetSpec &source = length == 1 ? step : embedding;
        target.name = source.name;
        target.inputs = {reshaped(source.inputs[0], {1, length}), reshaped(source.inputs[1], {1, length})};
        target.outputs = {reshaped(source.outputs[0], {1, length, H})};
    }

    for (int i = 0; i < catalog.layers; ++i) {
        NetSpec block = i == 0 ? block0 : read_net(session, "block_" + std::to_string(i));
        NetSpec cache = read_net(session, "block_cache_" + std::to_string(i));
        require_counts(block, 2, 2);
        require_counts(cache, 3, 2);
        require_shape(block, block.inputs[0], {1, S, H});
        require_shape(block, block.inputs[1], {1, 1, S, S});
        require_shape(block, block.outputs[0], {1, S, H});
        require_shape(block, block.outputs[1], {1, S, -1});
        const int row = block.outputs[1].shape.dims[2];
        require_shape(cache, cache.inputs[0], {1, 1, H});
        require_shape(cache, cache.inputs[1], {1, S, row});
        require_shape(cache, cache.inputs[2], {1, 1, 1, S + 1});
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
}

}  // namespace

}  // namespace tpu
