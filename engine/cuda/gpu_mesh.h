#pragma once

// A plan's whole mesh on the CUDA engine: pp stages x dp replicas of tensor groups
// (GpuModel), ranks numbered as the CPU executor numbers them. A step runs each replica's
// sequences through the stages one microbatch at a time, all of it enqueued from one host
// thread in wavefront order, so that on real GPUs stage s works on microbatch m + 1 while
// stage s + 1 works on m. Stage handoffs are send/recv on the pipeline axis (NCCL, or device
// copies when emulated), and after each step the last stage hands its greedy tokens back to
// the first, as the CPU executor's token feedback does.
#include "gpu_model.h"
#include "run/mesh_layout.h"

#include <memory>

namespace shard::cuda {

// The ranks one driver runs when each GPU has a driver of its own (a host thread, or an
// MPI process): the others run the same mesh elsewhere and meet these in NCCL calls.
struct GpuMeshScope {
    std::vector<int> ranks; // world ranks, numbered as the CPU executor numbers them
    std::vector<int> devices; // the GPU of each
    NcclJoin join; // how they join the world's communicators
    RankLog::Clock::time_point epoch = RankLog::Clock::now(); // shared, so every driver's times line up
};

class GpuMesh {
public:
    // options.batch and max_rows are the plan's (every replica); the mesh gives each group
    // its replica's share and the plan's microbatch count. Without a scope this driver runs
    // every rank (on GPUs 0..n-1, or emulated on GPU 0).
    GpuMesh(const run::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
            const GpuMeshScope* scope = nullptr);
    ~GpuMesh();
    GpuMesh(const GpuMesh&) = delete;
    GpuMesh& operator=(const GpuMesh&) = delete;

    const run::MeshLayout& layout() const;
    int ranks() const; // the whole mesh's
    bool owns(int rank) const; // whether this driver runs world rank `rank`
    const RankLog& log(int rank) const; // of a rank this driver runs
    // One step of the whole batch: tokens (batch x T) for the prefill, empty for a decode
    // step (each sequence goes on from the token the last step picked). Returns every
    // sequence's final hidden state and greedy token, in plan order; with a scope, only the
    // replicas whose last-stage rank 0 this driver runs are filled in (see outputs()).
    run::StepOutput step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed);
    // The last step on the GPU, ms: emulated, every rank back to back on the one stream; on
    // real GPUs, the group's own events when there is one group, else the host's wall clock
    // from the first enqueue to the last stream done.
    double last_step_gpu_ms() const;
    bool last_step_replayed_graphs() const;
    std::vector<int> outputs() const; // the replicas whose results this driver's step() returns
    std::size_t weight_bytes(int rank) const;
    std::size_t workspace_bytes(int rank) const;

    struct Impl;

private:
    std::unique_ptr<Impl> m;
};

} // namespace shard::cuda
