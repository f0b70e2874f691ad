#pragma once

// Private to the ShardedModel sources: one layer's shard of the weights and KV cache.
#include "../sharded_model.h"

#include <map>
#include <vector>

namespace shard::cpu {

struct ExpertWeights {
    Matrix gate, up, down, gate_bias, up_bias, down_bias;
};

struct ShardedModel::Layer {
    int index = 0;
    bool moe = false;
    Matrix input_norm, input_norm_bias, post_norm, post_norm_bias;
    Matrix q, k, v, q_bias, k_bias, v_bias, q_norm, k_norm, o, o_bias;
    int heads = 0;
    int kv_heads = 0;
    ExpertWeights mlp;
    Matrix router;
    std::map<int, ExpertWeights> experts; // local experts by global id
    ExpertWeights shared;
    Matrix shared_gate;
    std::vector<float> k_cache, v_cache; // [replica sequences][max_context][kv_heads][d]
};

} // namespace shard::cpu
