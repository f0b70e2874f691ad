#pragma once

// Private to the ShardedModel sources: one layer's shard of the weights and KV cache.
#include "../sharded_model.h"

#include "run/layer_shard.h"

#include <map>
#include <vector>

namespace shard::cpu {

using ExpertWeights = run::MlpShard;

// The norms and attention projections as run/layer_shard.h slices them, and the rest.
struct ShardedModel::Layer : run::LayerNorms, run::AttentionShard {
    int index = 0;
    bool moe = false;
    ExpertWeights mlp;
    Matrix router;
    std::map<int, ExpertWeights> experts; // local experts by global id
    ExpertWeights shared;
    Matrix shared_gate;
    std::vector<float> k_cache, v_cache; // [replica sequences][max_context][kv_heads][d]
};

} // namespace shard::cpu
