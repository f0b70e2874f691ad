#pragma once

// Which slice of each weight one rank of a 1D tensor group holds (none, column, row,
// Megatron, Megatron with sequence parallelism, attention data parallel), its experts under
// expert parallelism and its share of the vocabulary: the one source of the CPU
// ShardedModel's weights and the CUDA engine's. The grids have theirs in grid_layout.h.
#include "model_weights.h"

#include "core/strategy.h"
#include "cost/shard_geometry.h"

#include <cstdint>
#include <string>

namespace shard::run {

// A rank's index in its tensor group, and the group's size.
struct TensorSlot {
    int rank = 0;
    int size = 1;
};

// The norms of a layer: whole on every rank of a 1D group.
struct LayerNorms {
    Matrix input_norm, input_norm_bias, post_norm, post_norm_bias, q_norm, k_norm;
};
LayerNorms layer_norms(const ModelWeights& weights, int layer);

// Attention's projections on one rank: row splits every projection by its input rows and
// keeps every head; the others split the heads (column also splits o by its output columns).
struct AttentionShard {
    int heads = 0;
    int kv_heads = 0;
    Matrix q, k, v, q_bias, k_bias, v_bias, o, o_bias; // biases empty where the model has none
};
AttentionShard attention_shard(const ModelWeights& weights, TensorMode mode, const ShardGeometry& geometry,
                               TensorSlot slot, int layer);

// How the two linears of an MLP are split over `parts` ranks:
//  - Megatron: gate and up by output columns, down by input rows;
//  - Row: gate and up by input rows (the hidden split over the tensor group), down by input rows;
//  - Column: gate and up by output columns, down by output columns (the hidden split).
enum class MlpSplit { Megatron, Row, Column };
// A dense MLP's or an expert's split under the tensor mode (one part: nothing is split).
MlpSplit mlp_split(TensorMode mode, int parts);

struct MlpShard {
    Matrix gate, up, down, gate_bias, up_bias, down_bias; // gate and biases empty where absent
};
// Slice `index` of `parts` of the MLP at `prefix` (width: its inner size); the hidden split
// of Row and Column is the tensor group's.
MlpShard mlp_shard(const ModelWeights& weights, const std::string& prefix, std::int64_t width, int parts, int index,
                   MlpSplit split, TensorSlot slot);

// The experts one rank holds in an MoE layer. EP 1: every expert, a 1/t slice of each. EP:
// the experts_local experts of its EP shard (its offset in the stage over etp: the experts
// may span replicas), a 1/etp slice of each. The shared experts: split with the tensor group
// under EP 1, whole under EP.
struct ExpertSlot {
    int first = 0;
    int count = 0;
    int parts = 1; // each expert's slices
    int index = 0; // this rank's slice
    int shared_parts = 1;
    int shared_index = 0;
};
ExpertSlot expert_slot(const Strategy& strategy, const ShardGeometry& geometry, int replica, TensorSlot slot);

// The vocabulary-parallel embedding rows [vocab_padded / parts, hidden] and head columns
// [hidden, vocab_padded / parts] of slice `index` (padding rows and columns zero).
std::int64_t vocab_begin(std::int64_t vocab_padded, int parts, int index);
Matrix embedding_rows(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index);
Matrix head_columns(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index);

} // namespace shard::run
