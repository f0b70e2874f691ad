#pragma once

// Private to gpu_mesh*.cpp: a mesh's groups, communicators and step state.
#include "gpu_mesh.h"

#include "cuda_check.h"
#include "rendezvous_collectives.h"

#include "run/grid_layout.h"

#include <mutex>

namespace shard::cuda {

// A stage handoff of one microbatch on one tensor offset, recorded once the step finished.
struct Handoff {
    int from_rank = 0, to_rank = 0;
    int microbatch = 0;
    std::int64_t payload = 0; // bytes
};

struct GpuMesh::Impl {
    Plan plan;
    GpuModelOptions options;
    run::MeshLayout layout;
    ShardGeometry geometry;
    int B = 1; // sequences per replica
    std::vector<int> slot; // per world rank: its index in this driver's ranks, or -1
    std::vector<int> local_ranks, local_devices; // this driver's ranks
    std::vector<cudaStream_t> local_streams;
    std::vector<std::unique_ptr<Stream>> streams; // emulated: one on device 0; else one per local rank
    std::vector<std::unique_ptr<DeviceCollectives>> owned; // emulated groups
    std::vector<std::vector<std::unique_ptr<DeviceCollectives>>> axes; // NCCL splits
    std::vector<DeviceCollectives*> tensor_comm; // per group; null with one rank or none here
    std::vector<DeviceCollectives*> pipeline_comm; // per offset in a stage (pp > 1); null: none here
    // Expert parallelism: per group, its expert groups (etp of them, ep members each) and
    // expert-TP groups (ep of them, etp members each; none when etp is 1).
    int ep = 1, etp = 1;
    std::vector<std::vector<DeviceCollectives*>> expert_comm, expert_tp_comm;
    // Experts across replicas (ep > 1 with dp > 1) with one driver for every rank: the
    // expert groups shared by a stage's replicas, whose models then run from a host thread
    // each (a collective needs every member's buffers in one call).
    std::vector<std::unique_ptr<RendezvousGroup>> rendezvous;
    bool replicas_in_threads = false;
    // Grid layouts: per group, per axis of the tensor shape, one per group of the axis.
    std::vector<run::GridAxis> grid_axes;
    std::vector<std::vector<std::vector<DeviceCollectives*>>> grid_comm;
    std::vector<std::unique_ptr<GpuModel>> groups; // layout order; null where this driver runs no rank
    std::vector<std::vector<Event>> handoff_events; // per local slot: start, end per microbatch (real GPUs)
    std::vector<Handoff> handoffs;
    std::unique_ptr<Event> start, end; // on the emulated stream
    double wall_ms = 0;
    bool graphs = false;
    double stage_busbw = 0, stage_latency = 0;

    bool local(int rank) const { return slot[std::size_t(rank)] >= 0; }
    int tensor_of(int rank) const { return rank % layout.t; }
    GpuModel* group(int stage, int replica) const { return groups[std::size_t(stage * layout.dp + replica)].get(); }
    GpuModel& group_of_rank(int rank) const
    {
        const int stage = layout.stage_of(rank);
        const int replica = (rank % layout.stage_size()) / layout.t;
        GpuModel* g = group(stage, replica);
        if (!g || !g->owns(tensor_of(rank)))
            throw Error("rank " + std::to_string(rank) + " runs in another thread or process");
        return *g;
    }
    // This driver's buffer of `rank` in group (stage, replica), or null when it runs elsewhere.
    void* activations(int stage, int replica, int tensor) const
    {
        GpuModel* g = group(stage, replica);
        return g && g->owns(tensor) ? g->activations(tensor) : nullptr;
    }
    void* tokens(int stage, int replica, int tensor) const
    {
        GpuModel* g = group(stage, replica);
        return g && g->owns(tensor) ? g->next_tokens(tensor) : nullptr;
    }
    std::int64_t handoff_elements(int seqs, int T) const
    {
        const std::int64_t rows = std::int64_t(seqs) * T;
        const bool sp =
            (plan.strategy.tensor_mode == TensorMode::MegatronSP || plan.strategy.attention == AttentionMode::Data)
            && layout.t > 1; // residual rows sharded over the tensor group
        if (!grid_axes.empty()) // a row block's hidden chunk
            return rows / geometry.token_parts * (plan.model.hidden / run::GridLayout(plan.strategy, 0).parts());
        return (sp ? rows / layout.t : rows) * plan.model.hidden;
    }
    void build_communicators(const GpuMeshScope* scope);
    // One microbatch of one replica through one stage, and its handoff to the next stage.
    void enqueue_microbatch(const std::vector<std::int64_t>& tokens, int mb, int stage, int replica, int position,
                            int T, bool timed);
    void enqueue_replicas_in_threads(const std::vector<std::int64_t>& tokens, int position, int T, bool timed);
    std::mutex handoffs_mutex;
    void record_handoffs(bool timed);
};

} // namespace shard::cuda
