#pragma once

#include "cost_types.h"
#include "hardware_model.h"
#include "shard_geometry.h"

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"
#include "core/workload.h"

#include <string>
#include <vector>

namespace shard {

// Memory one device needs, by category (bytes), on the pipeline stage that needs the most.
struct MemoryBreakdown {
    std::int64_t weights = 0; // sharded and replicated weights resident on the device
    std::int64_t kv_cache = 0; // full context of every sequence the device serves
    std::int64_t activations = 0; // peak live activations of one step
    std::int64_t gathered_weights = 0; // temporaries of SUMMA / 2.5D / 3D weight blocks
    std::int64_t comm_buffers = 0; // NCCL buffers per communicator + largest payload
    std::int64_t runtime_reserve = 0; // CUDA context, library workspaces, fragmentation
    std::int64_t capacity = 0;
    int stage = 0;

    std::int64_t total() const
    {
        return weights + kv_cache + activations + gathered_weights + comm_buffers + runtime_reserve;
    }
    bool fits() const { return total() <= capacity; }
};

// A pipeline stage and what it runs for one microbatch.
struct StageCost {
    int first_layer = 0;
    int dense_layers = 0;
    int moe_layers = 0;
    bool embedding = false;
    bool lm_head = false;
    double compute_us = 0;
    double comm_us = 0;
    double table_us = 0; // the part of compute_us + comm_us priced from measured tables
    std::int64_t traffic = 0; // bytes one device sends per microbatch
    double time_us() const { return compute_us + comm_us; }
};

// One step of a phase (prefill: the whole prompt; decode: one token per sequence).
struct PhaseCost {
    std::vector<BlockCost> blocks; // embedding, dense layer, moe layer, lm head, stage handoff
    std::vector<StageCost> stages;
    int microbatches = 1;
    double time_ms = 0; // TTFT for prefill, time per output token for decode
    double compute_ms = 0; // busiest device
    double comm_ms = 0;
    double bubble_ms = 0; // pipeline idle time on the busiest device
    std::int64_t traffic_per_device = 0; // bytes per step on the busiest device
    // Share of the busiest device's op and collective time priced from measured tables
    // (measured, interpolated or extrapolated points); the rest is the roofline's.
    double measured_share = 0;

    const BlockCost* block(const std::string& name) const;
};

struct Estimate {
    bool feasible = false;
    std::string reason; // why not, naming the rule or the bytes over
    ShardGeometry geometry;
    MemoryBreakdown memory;
    PhaseCost prefill;
    PhaseCost decode;
    double ttft_ms = 0;
    double tpot_ms = 0;
    double tokens_per_s = 0; // decode throughput of all replicas
    // KV-cache bytes one token of one sequence costs a device (all its layers).
    std::int64_t kv_bytes_per_token_per_device = 0;
    std::vector<std::string> notes;
    // What the times are predicted from, in words (prediction_source): which tables, which
    // profile of this machine, which corrections from stored runs. Empty when not priced.
    std::string source;
};

Estimate estimate(const ModelSpec& model, const Strategy& strategy, const Topology& topology, const Workload& workload,
                  const Efficiency& efficiency = {});

} // namespace shard
