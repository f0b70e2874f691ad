#pragma once

// The CUDA forward of a plan's tensor group: every rank's shard of the weights, its KV cache
// and one preallocated workspace, driven from one host thread in lockstep (each op is
// enqueued for every rank before the next op). Same shard layout, op order and collectives
// as the CPU reference's ShardedModel, so both are checked against the same oracle and the
// same planner prediction.
#include "device_collectives.h"
#include "device_resources.h"
#include "gpu_dtype.h"

#include "runtime/communicator.h"
#include "runtime/model_weights.h"
#include "runtime/reference_model.h"

#include "core/plan.h"
#include "cost/shard_geometry.h"

#include <memory>
#include <vector>

namespace shard::cuda {

struct GpuModelOptions {
    GpuDType dtype = GpuDType::BF16;
    bool emulated = true;      // N virtual ranks on device 0; else one rank per device
    bool graphs = true;        // decode steps replay a captured CUDA graph
    bool overlap = false;      // NCCL on its own stream, chunked behind the producing GEMM
    int batch = 1;             // sequences
    int max_rows = 1;          // most tokens of one step (batch x prompt)
    int max_seq_tokens = 0;    // most tokens of one sequence in a step; 0: max_rows / batch
    int max_context = 1;       // KV cache length
    double timeout_s = 120;    // a step that takes longer is reported as hung
};

// Why the CUDA engine cannot run this plan yet, or empty.
std::string gpu_unsupported_reason(const ModelSpec& model, const Strategy& strategy);

class GpuModel {
public:
    GpuModel(const cpu::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options);
    ~GpuModel();
    GpuModel(const GpuModel&) = delete;
    GpuModel& operator=(const GpuModel&) = delete;

    int ranks() const;
    // One step of every sequence: T tokens each at `position`. `tokens` (batch x T) feeds the
    // prefill; decode steps (T = 1, tokens empty) read the previous step's greedy tokens on
    // the device. With `timed`, every op is timed with CUDA events into the rank logs.
    // `sequences` (default: the batch) runs the first sequences only, for benchmarks.
    cpu::StepOutput step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed, int sequences = 0);
    // Decode steps replay a CUDA graph (captured at the first untimed decode step) or not.
    void set_graphs(bool on);
    // Per rank: what it measured (ops, collectives with modeled or measured time).
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
