/* The embedding in every layout the engine knows: the engine needs a [SEQLEN]-token and a 1-token embedding.
 *
 * - sophgo/LLM-TPU Llama2/ChatGLM2: two nets, `embedding` [1,SEQLEN] and `embedding_cache` [1,1].
 * - sophgo/LLM-TPU WizardCoder: one `embedding` net with two stages, ([1,1] ids, [1,1] positions) and
 *   ([1,SEQLEN], [1,SEQLEN]).
 * - sophgo/ChatGLM2-TPU (2023): one `embedding` net with two stages, [1] then [SEQLEN] (compile/compile.sh
 *   combines embedding_1 then embedding_512; demo/demo.cpp reads stages[1] for the prompt), output [n,H].
 * - sophgo/Llama2-TPU (2023): `embedding` [SEQLEN] and `embedding_cache` [1], output [n,H] (compile/compile.sh).
 * - enigma9981/Wizardcoder-TPU (2023): one two-stage `embedding` on 1-D ids and positions (compile/compile.sh
 *   `--input_shapes [[1],[1]]` and `[[512],[512]]`), output [n,H].
 *
 * Our bm_stage_info_t declaration is the old 16-byte one and the runtime's may be longer, so only stages[0] is
 * ever read: SEQLEN and the hidden size come from block_0, and for a two-stage net the engine writes the other
 * stage's shapes itself (same rank, the token count changed) and launches the net with tensors of the shape it
 * needs; the runtime picks the stage whose input shapes match, as libsophon's bmrt_launch_tensor_ex does. */
#include <algorithm>

#include "net_checks.h"

namespace tpu {

namespace {

/* The token count of an ids tensor: [n] or [1,n]. */
int ids_length(const TensorSpec &ids) {
    if (ids.shape.num_dims == 1) return ids.shape.dims[0];
    if (ids.shape.num_dims == 2 && ids.shape.dims[0] == 1) return ids.shape.dims[1];
    return -1;
}

/* `net` with every ids input of `length` tokens and its output of length × hidden, in the same ranks. The
 * output's token axis: [n,H] axis 0, [1,n,H] axis 1, ChatGLM2's sequence-first [n,1,H] axis 0. */
NetSpec with_length(const NetSpec &net, int length, int hidden, bool sequence_first) {
    NetSpec result = net;
    for (TensorSpec &input : result.inputs)
        input = reshaped(input, input.shape.num_dims == 1 ? std::vector<int>{length} : std::vector<int>{1, length});
    const TensorSpec &output = net.outputs[0];
    std::vector<int> dims;
    if (output.shape.num_dims == 2) dims = {length, hidden};
    else dims = sequence_first ? std::vector<int>{length, 1, hidden} : std::vector<int>{1, length, hidden};
    result.outputs[0] = reshaped(output, dims);
    return result;
}

void check_embedding(const NetSpec &net, size_t inputs, int length, int hidden) {
    require_counts(net, inputs, 1);
    for (const TensorSpec &input : net.inputs) {
        if (input.dtype != BM_INT32)
            throw load_error("net " + net.name + " takes " + input.name + " as " + dtype_name(input.dtype) + ", expected int32");
        if (ids_length(input) != length)
            throw load_error("net " + net.name + " tensor " + input.name + " has shape " + shape_text(input.shape) +
                             ", expected [" + std::to_string(length) + "] or [1," + std::to_string(length) + "]");
    }
    const TensorSpec &output = net.outputs[0];
    if ((output.shape.num_dims != 2 && output.shape.num_dims != 3) || output.shape.dims[output.shape.num_dims - 1] != hidden ||
        element_count(output.shape) != size_t(length) * size_t(hidden))
        throw load_error("net " + net.name + " tensor " + output.name + " has shape " + shape_text(output.shape) +
                         ", expected " + std::to_string(length) + " rows of " + std::to_string(hidden));
}

}  // namespace

void describe_embeddings(const RuntimeSession &session, size_t inputs, int hidden, bool sequence_first, NetCatalog &catalog) {
    const int S = catalog.seq_len;
    const NetSpec embedding = read_net(session, "embedding");
    if (embedding.inputs.size() != inputs || embedding.inputs.empty())
        throw load_error("net embedding has " + std::to_string(embedding.inputs.size()) + " inputs, expected " +
                         std::to_string(inputs));
    catalog.one_dimensional_ids = embedding.inputs[0].shape.num_dims == 1;
    const auto &names = catalog.net_names;
    if (std::find(names.begin(), names.end(), "embedding_cache") != names.end()) {
        catalog.embedding = embedding;
        catalog.embedding_cache = read_net(session, "embedding_cache");
        check_embedding(catalog.embedding, inputs, S, hidden);
        check_embedding(catalog.embedding_cache, inputs, 1, hidden);
        return;
    }
    const bm_net_info_t *info = session.net_info("embedding");
    const int first_length = ids_length(embedding.inputs[0]);
    if (info == nullptr || info->stage_num < 2)
        throw load_error("net embedding has " + std::to_string(info == nullptr ? 0 : info->stage_num) +
                         " stage(s) and there is no embedding_cache net: the engine needs a 1-token and a " +
                         std::to_string(S) + "-token embedding");
    if (first_length != 1 && first_length != S)
        throw load_error("net embedding's first stage takes " + shape_text(embedding.inputs[0].shape) + ", expected [1] or [" +
                         std::to_string(S) + "] tokens (SEQLEN " + std::to_string(S) + " from the first block)");
    check_embedding(embedding, inputs, first_length, hidden);
    catalog.embedding = with_length(embedding, S, hidden, sequence_first);
    catalog.embedding_cache = with_length(embedding, 1, hidden, sequence_first);
}

}  // namespace tpu
