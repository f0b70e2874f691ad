#pragma once

// Where one rank of a 2D / 2.5D / 3D tensor grid sits, which weight blocks and rows it
// holds, and which groups it meets its peers in. The one source of truth of the CPU
// GridModel and the CUDA engine's grid layouts, so both run the same shards.
#include "model_weights.h"

#include "core/strategy.h"
#include "cost/shard_geometry.h"

#include <cstdint>
#include <string>

namespace shard::run {

class GridLayout {
public:
    // Rank `tensor_rank` (0..t-1) of the strategy's grid.
    GridLayout(const Strategy& strategy, int tensor_rank);

    TensorMode mode() const { return m_mode; }
    int q() const { return m_q; } // SUMMA / 2.5D / 3D: the grid's side
    int q1() const { return m_q1; } // weight-stationary: rows x columns
    int q2() const { return m_q2; }
    int depth() const { return m_depth; } // 2.5D depth (1 otherwise)
    int i() const { return m_i; }
    int j() const { return m_j; }
    int l() const { return m_l; }
    // Chunks of the hidden (and FFN) dimension: q, or t for weight-stationary.
    int parts() const;
    // Block index of the rows (sequences) this rank holds between layers.
    int row_block() const;
    // Chunk of the hidden dimension held between layers (norm weights, residual, embedding).
    int col_chunk() const;
    // Chunk of N an orientation-A linear (qkv, gate/up) leaves on this rank (its bias chunk).
    int output_chunk() const;

    // Rows [r0, r1) and columns [c0, c1) of a [K, N] weight this rank stores. Orientation A
    // (qkv, gate/up) and B (o, down) differ in weight-stationary and 3D.
    struct Block {
        std::int64_t r0, r1, c0, c1;
    };
    Block weight_block(std::int64_t K, std::int64_t N, bool orientation_a) const;

private:
    TensorMode m_mode;
    int m_q = 1, m_q1 = 1, m_q2 = 1, m_depth = 1;
    int m_i = 0, m_j = 0, m_l = 0;
};

// The groups of a grid, one per axis of the tensor shape: members differ only in that
// coordinate, in ascending order of it (so a rank's index in its group is its coordinate).
// The last axis is "tp_col" (the executor's `row` communicator: X travels along it in
// SUMMA), the one before it "tp_row" (`col`: W travels down it), a third "tp_z" (`depth`).
struct GridAxis {
    std::string name;
    int size = 1;
    int stride = 1;
};
std::vector<GridAxis> grid_axes(const Strategy& strategy);
// Which group of `axis` tensor rank u joins (0..t / size - 1, groups ordered by their first
// member), and its index in it.
int grid_group_of(const GridAxis& axis, int u);
int grid_index_in_group(const GridAxis& axis, int u);

// One layer's blocks on one rank: norm weights and LayerNorm biases of its hidden chunk,
// the four weight blocks (Q, K, V fused per head group; gate and up fused per output
// chunk), and the bias chunk of each block's output.
struct GridLayerShard {
    Matrix input_norm, post_norm, q_norm, k_norm;
    Matrix input_norm_bias, post_norm_bias;
    Matrix qkv, o, gate_up, down;
    Matrix qkv_bias, o_bias, gate_up_bias, down_bias;
    std::int64_t qkv_width = 0; // the full fused width (every head group)
};
GridLayerShard grid_layer_shard(const ModelWeights& weights, const GridLayout& grid, const ShardGeometry& geometry,
                                int layer);

} // namespace shard::run
