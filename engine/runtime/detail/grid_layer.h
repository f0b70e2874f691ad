#pragma once

// Private to the GridModel sources: one layer's weight blocks and KV cache.
#include "../grid_model.h"

#include <vector>

namespace shard::cpu {

struct GridModel::Layer {
    int index = 0;
    Matrix input_norm, post_norm, q_norm, k_norm; // norm weights: this rank's hidden chunk
    Matrix input_norm_bias, post_norm_bias;       // LayerNorm biases, same chunk
    Matrix qkv, o, gate_up, down;                 // stored weight blocks
    Matrix qkv_bias, o_bias, gate_up_bias, down_bias; // the bias chunk of each output block
    std::int64_t qkv_width = 0;                   // full fused width
    std::vector<float> k_cache, v_cache; // [sequences held][max_context][kv heads][d]
};

} // namespace shard::cpu
