#pragma once

#include "cost_types.h"
#include "device_mesh.h"
#include "hardware_model.h"
#include "shard_geometry.h"

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"
#include "core/workload.h"

namespace shard {

// One forward step of one microbatch on one pipeline replica.
struct StepShape {
    bool decode = false;
    std::int64_t seqs = 1; // sequences in the microbatch
    std::int64_t tokens_per_seq = 1; // prompt length (prefill) or 1 (decode)
    std::int64_t context = 1; // attention context per sequence in this step
    std::int64_t kv_context = 1; // tokens the KV cache holds per sequence (prompt + generated)
    std::int64_t tokens() const { return seqs * tokens_per_seq; }
};

// Builds the per-device ops and collectives of each block of a step for one strategy:
// the layouts of DESIGN.md section 2, one recipe per tensor mode. The ordered collective
// lists are the contract the executors are checked against, byte for byte.
class StepBuilder {
public:
    StepBuilder(const ModelSpec& model, const Strategy& strategy, const Topology& topology, const Workload& workload,
                const ShardGeometry& geometry, const HardwareModel& hardware);

    BlockCost embedding(const StepShape& step) const;
    BlockCost dense_layer(const StepShape& step) const;
    BlockCost moe_layer(const StepShape& step) const;
    BlockCost lm_head(const StepShape& step) const;
    // Send/Recv of one device's activations to the next stage (empty block when pp == 1).
    BlockCost stage_handoff(const StepShape& step) const;

    // Helpers the per-mode recipes share (public so the recipe files can use them).
    struct Writer;
    const ModelSpec& model() const { return m_model; }
    const Strategy& strategy() const { return m_strategy; }
    const ShardGeometry& geometry() const { return m_geometry; }
    const HardwareModel& hardware() const { return m_hardware; }
    const DeviceMesh& mesh() const { return m_mesh; }
    int act_bytes() const { return m_e; }
    int kv_bytes() const { return m_ekv; }
    DType dtype() const { return m_workload.dtype; }
    DType kv_dtype() const { return m_workload.kv_dtype; }

private:
    void attention_part(Writer& w, const StepShape& step, bool moe_follows) const;
    void mlp_part(Writer& w, const StepShape& step) const;
    void moe_part(Writer& w, const StepShape& step) const;

    const ModelSpec& m_model;
    const Strategy& m_strategy;
    const Topology& m_topology;
    const Workload& m_workload;
    const ShardGeometry& m_geometry;
    const HardwareModel& m_hardware;
    DeviceMesh m_mesh;
    int m_e = 2;
    int m_ekv = 2;
};

// Appends ops and collectives to a block, pricing each on the hardware and the mesh.
struct StepBuilder::Writer {
    Writer(BlockCost& block, const StepBuilder& builder);

    OpCost& gemm(std::string name, OpKind kind, std::int64_t m, std::int64_t k, std::int64_t n,
                 std::int64_t weight_elements, double repeat = 1);
    OpCost& elementwise(std::string name, OpKind kind, double bytes, std::int64_t weight_elements = 0);
    // Attention core (scores and weighted values) for `seqs` sequences on this device.
    OpCost& attention_core(const StepShape& step, std::int64_t seqs, int heads, int kv_heads);
    // A collective over `group` members `stride` apart inside the stage block.
    CollectiveCost& collective(std::string name, OpKind kind, CollectiveKind op, std::string axis, int group,
                               int stride, std::int64_t payload, int calls = 1);
    // Row statistics of a norm whose columns are split over a group (2D / 3D layouts).
    void norm_stats(const std::string& name, std::string axis, int group, int stride, std::int64_t rows);
    void note_activation(std::int64_t bytes);
    // Ops [first, first + count) of the block that one measured fused kernel runs: its time
    // is shared among them in proportion to their roofline times.
    void priced_together(std::size_t first, std::size_t count, double us, Provenance source);
    // The KV cache this device keeps for the layer: its local KV heads, or the MLA latent
    // kept whole, for every resident sequence over the step's context.
    void kv_cache(const StepShape& step);

    BlockCost& block;
    const StepBuilder& b;
};

} // namespace shard
