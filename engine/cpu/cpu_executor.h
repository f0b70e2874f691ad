#pragma once

#include "reference_model.h"
#include "shared_types.h"

#include "core/plan.h"

#include <atomic>
#include <functional>
#include <vector>

namespace shard::cpu {

// A failure to inject, for the tests: `rank` throws when it starts microbatch `microbatch`
// of step `step`.
struct InjectedFailure {
    int rank = -1;
    int step = 0;
    int microbatch = 0;
};

struct CpuRunOptions {
    int decode_steps = -1; // -1: the plan's generated tokens
    InjectedFailure failure;
    const std::atomic<bool>* cancel = nullptr; // checked before every microbatch
    // Called from rank 0's thread after each step with the step index, the number of steps
    // and rank 0's log so far (safe to read there: only rank 0 writes it).
    std::function<void(int, int, const RankLog&)> on_step;
};

// Runs the plan's sharded forward on the CPU: one thread per rank, real collectives. A plan
// that the model cannot run is refused before any thread starts; a failing rank stops all
// ranks and the failure is rethrown as Error naming the rank.
RunResult run_cpu(const Plan& plan, const ModelWeights& weights, const CpuRunOptions& options = {});

// The unsharded forward of the same workload, for comparison. A set cancel flag stops it
// with Cancelled before each step and after the last.
std::vector<StepOutput> run_reference(const Plan& plan, const ModelWeights& weights, int decode_steps = -1,
                                      const std::atomic<bool>* cancel = nullptr);

} // namespace shard::cpu
