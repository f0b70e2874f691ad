#pragma once

// Runs a plan on the CUDA engine: prefill then greedy decode steps, every op timed with CUDA
// events (decode steps after the first replay a CUDA graph when graphs are on), every
// collective recorded with its bytes and its measured (NCCL) or modeled (emulated) time.
#include "gpu_model.h"

#include "run/run_report.h"
#include "run/run_result.h"

#include "cost/estimate.h"

#include <atomic>
#include <functional>

namespace shard::cuda {

struct GpuRunOptions {
    GpuDType dtype = GpuDType::BF16;
    bool emulated = false;
    bool graphs = true;
    bool overlap = false;
    // Real GPUs: one host thread per GPU, each driving its own rank (NCCL communicators
    // from ncclCommInitRank); false: one thread drives every GPU in lockstep with grouped
    // NCCL calls. Emulated ranks always share one thread.
    bool thread_per_gpu = true;
    int decode_steps = -1; // -1: the plan's generated tokens
    const std::atomic<bool>* cancel = nullptr;
    // After each step: step index, steps, rank 0's log so far (on rank 0's thread).
    std::function<void(int, int, const RankLog&)> on_step;
};

struct GpuStepTime {
    double compute_ms = 0; // measured: slowest rank's ops (emulated) or the GPU step (real)
    double network_ms = 0; // emulated: the cost model's time of the step's collectives
    double gpu_ms = 0; // the whole step on the GPU (emulated: every rank, serialised)
    bool graph = false; // replayed from a CUDA graph
    double total_ms() const { return compute_ms + network_ms; }
};

struct GpuRunResult {
    run::RunResult run; // steps, per-rank logs (ops and collectives)
    std::vector<GpuStepTime> times; // per step
    std::size_t weight_bytes = 0; // per rank
    std::size_t workspace_bytes = 0;
};

// Whether decode steps of this plan replay CUDA graphs when `requested`, and if not, why
// (empty when they can).
bool gpu_graphs_apply(const Plan& plan, bool requested);
std::string gpu_graphs_note(const Plan& plan);

// Relative-error limit of the check against the fp32 CPU reference.
double tolerance(GpuDType type);

GpuRunResult run_gpu(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options);

// The check of a GPU run: error of the final hidden states against the reference over the
// steps whose earlier tokens all matched (a low-precision run that picks another token
// goes on from a different prefix), and whether every token matched.
run::RunCheck check_gpu_run(const GpuRunResult& result, const std::vector<run::StepOutput>& reference,
                            const Estimate& predicted);

} // namespace shard::cuda
