#pragma once

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/workload.h"

#include <cstdint>
#include <string>

namespace shard {

// How a strategy cuts a model: the per-device counts every cost function needs, and the
// first divisibility rule it breaks (empty when it breaks none).
struct ShardGeometry {
    int t = 1; // tensor group size
    int head_parts = 1; // ways the attention heads are split
    int heads_local = 0; // query heads per device
    int kv_heads_local = 0; // KV heads per device (after replication)
    int kv_replication = 1; // copies of each KV head when head_parts > kv_heads
    int token_parts = 1; // ways the sequences of a step are split for attention
    int batch_per_replica = 1;
    int microbatches = 1; // pipeline microbatches (whole sequences)
    int seqs_per_micro = 1;
    int expert_tp = 1;
    int experts_local = 0;
    std::int64_t vocab_padded = 0; // vocabulary padded to a multiple of the vocab split
    std::string reject; // why the strategy cannot run this model, or empty

    bool feasible() const { return reject.empty(); }
};

ShardGeometry shard_geometry(const ModelSpec& model, const Strategy& strategy, const Workload& workload);

} // namespace shard
