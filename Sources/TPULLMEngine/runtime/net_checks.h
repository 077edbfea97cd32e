/* Reading one net's description and checking its tensors: the pieces net_catalog.cpp and embedding_nets.cpp share. */
#pragma once

#include <string>
#include <vector>

#include "net_catalog.h"
#include "tpu_llm_engine.h"

namespace tpu {

inline EngineError load_error(const std::string &message) { return EngineError(EngineError::Kind::load, message); }

/* The net's inputs and outputs as stage 0 describes them (see embedding_nets.cpp for why only stage 0). */
NetSpec read_net(const RuntimeSession &session, const std::string &name);

/* Elements of a shape (negative dims count as 0). */
size_t element_count(const bm_shape_t &shape);

/* Throws unless `tensor` has exactly `dims` (−1: any size). */
void require_shape(const NetSpec &net, const TensorSpec &tensor, std::vector<int> dims);

/* Throws unless `tensor` holds `count` elements, whatever its rank: the 2023 seed repositories traced some
 * tensors with fewer dimensions than LLM-TPU (e.g. Wizardcoder-TPU's mask [S,S] for [1,1,S,S]); the bytes are
 * the same. `wanted` describes the expected shape for the message. */
void require_elements(const NetSpec &net, const TensorSpec &tensor, size_t count, const std::string &wanted);

void require_counts(const NetSpec &net, size_t inputs, size_t outputs);

/* A tensor like `spec` with another shape. */
TensorSpec reshaped(const TensorSpec &spec, const std::vector<int> &dims);

}  // namespace tpu
