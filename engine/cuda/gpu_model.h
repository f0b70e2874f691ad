#pragma once

// The CUDA forward of one tensor group of a plan (one pipeline stage of one data-parallel
// replica): every rank's shard of the stage's layers, its KV cache and one preallocated
// workspace, driven from one host thread in lockstep (each op is enqueued for every rank
// before the next op). Same shard layout, op order and collectives as the CPU reference's
// ShardedModel, so both are checked against the same oracle and the same planner
// prediction. GpuMesh strings the groups of a pipeline / data-parallel plan together.
#include "device_collectives.h"
#include "device_resources.h"
#include "engine_support.h"
#include "gpu_dtype.h"

#include "run/communicator.h"
#include "run/model_weights.h"
#include "run/run_result.h"

#include "core/plan.h"
#include "cost/shard_geometry.h"

#include <memory>
#include <vector>

namespace shard::cuda {

struct GpuModelOptions {
    GpuDType dtype = GpuDType::BF16;
    bool emulated = true; // N virtual ranks on device 0; else one rank per device
    bool graphs = true; // decode steps replay a captured CUDA graph
    bool overlap = false; // tensor collectives on their own streams, all-reduces chunked behind their GEMM
    int batch = 1; // sequences (of the group's replica)
    int microbatches = 1; // enqueue() calls per step
    int max_rows = 1; // most tokens of one step (batch x prompt)
    int max_seq_tokens = 0; // most tokens of one sequence in a step; 0: max_rows / batch
    int max_context = 1; // KV cache length
    double timeout_s = 120; // a step that takes longer is reported as hung
};

// Where a group sits in its mesh and what the mesh lends it. Without one, the model is a
// plan of one stage and one replica, on devices 0..t-1 (or emulated on device 0), and owns
// its streams and communicator.
struct GpuGroupPlace {
    int stage = 0;
    int replica = 0;
    // The tensor ranks this driver owns (empty: all of them, 0..t-1), with the device and
    // stream of each. A thread or process per GPU owns one; the other ranks of the group
    // run elsewhere and meet this one in the collectives.
    std::vector<int> tensor_ranks;
    std::vector<int> devices;
    std::vector<cudaStream_t> streams;
    DeviceCollectives* tensor = nullptr; // the tensor group's collectives (null with one rank)
    // Expert parallelism (ep > 1) inside the group: expert_groups[c] joins the ranks with
    // index % etp == c (one rank per EP shard), expert_tp_groups[e] the ranks with index /
    // etp == e (the etp slices of one shard's experts; empty when etp is 1). Null where this
    // driver runs none of a group's ranks.
    std::vector<DeviceCollectives*> expert_groups;
    std::vector<DeviceCollectives*> expert_tp_groups;
    // Grid layouts (2D / 2.5D / 3D): per axis of the tensor shape (run::grid_axes), one per
    // group of the axis (run::grid_group_of), null where this driver runs none of its ranks.
    std::vector<std::vector<DeviceCollectives*>> grid_groups;
};

class GpuModel {
public:
    GpuModel(const run::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
             const GpuGroupPlace* place = nullptr);
    ~GpuModel();
    GpuModel(const GpuModel&) = delete;
    GpuModel& operator=(const GpuModel&) = delete;

    int ranks() const; // the tensor group's size
    bool owns(int rank) const; // whether this driver runs tensor rank `rank`
    // One step of every sequence: T tokens each at `position`. `tokens` (batch x T) feeds the
    // prefill; decode steps (T = 1, tokens empty) read the previous step's greedy tokens on
    // the device. With `timed`, every op is timed with CUDA events into the rank logs.
    // `sequences` (default: the batch) runs the first sequences only, for benchmarks.
    run::StepOutput step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed, int sequences = 0);

    // The same step in pieces, for a mesh: begin_step, then one enqueue per microbatch
    // (sequences first_seq... of the replica; a later stage finds its input already in
    // activations()), then end_step, which waits and reads the timings, then output() on the
    // last stage. A decode step replays a graph only where `allow_graph` (one microbatch).
    void begin_step(bool timed);
    void enqueue(const std::vector<std::int64_t>& tokens, int first_seq, int seqs, int position, int T,
                 bool allow_graph);
    void end_step();
    run::StepOutput output(int seqs) const; // empty unless the last stage and owning rank 0
    bool graph_replayed() const; // the last step replayed a captured graph
    // A rank's residual rows (what a stage hands to the next) and its greedy tokens (what the
    // last stage hands back to the first); handoff_elements counts one handoff.
    void* activations(int rank) const;
    void* next_tokens(int rank) const;
    std::int64_t handoff_elements(int seqs, int T) const;
    void set_epoch(RankLog::Clock::time_point epoch);
    // A timed step's origin: the event begin_step recorded on a rank's stream, and the host
    // clock (us since the epoch) it stands for. Null when the step is not timed.
    const Event* timing_origin(int rank) const;
    double timing_origin_us() const;
    RankLog& mutable_log(int rank);
    // Decode steps replay a CUDA graph (captured at the first untimed decode step) or not.
    void set_graphs(bool on);
    // Per rank this driver owns: what it measured (ops, collectives with modeled or
    // measured time).
    const RankLog& log(int rank) const;
    // GPU time of the last step, all ranks (emulated: serialised on one GPU), in ms.
    double last_step_gpu_ms() const;
    // Bytes of weights and workspace each rank holds on its device.
    std::size_t weight_bytes(int rank) const;
    std::size_t workspace_bytes(int rank) const;

    struct Impl;

private:
    std::unique_ptr<Impl> m;
};

} // namespace shard::cuda
