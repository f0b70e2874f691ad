#include "gpu_executor.h"

#include "gpu_run_parts.h"

#include "run/traffic_check.h"

#include <algorithm>
#include <cmath>

namespace shard::cuda {

bool gpu_graphs_apply(const Plan& plan, bool requested)
{
    return requested && gpu_graphs_note(plan).empty();
}

std::string gpu_graphs_note(const Plan& plan)
{
    if (plan.model.is_moe())
        return "CUDA graphs are off for MoE models: each MoE layer reads its experts' row counts back to the host";
    if (plan.strategy.pp > 1)
        return "CUDA graphs are off for pipelines: stages hand microbatches to each other between their steps";
    return {};
}

double tolerance(GpuDType type)
{
    return type == GpuDType::F32 ? 1e-5 : 2e-2;
}

GpuRunResult run_gpu(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options)
{
    if (!options.emulated && options.thread_per_gpu && run::mesh_layout(plan.strategy).ranks() > 1)
        return run_gpu_threads(plan, weights, options);
    std::vector<GpuRunPart> parts;
    parts.push_back(run_gpu_part(plan, weights, options, nullptr,
                                 [&](int) { return !(options.cancel && options.cancel->load()); }));
    return merge_gpu_parts(plan, std::move(parts));
}

run::RunCheck check_gpu_run(const GpuRunResult& result, const std::vector<run::StepOutput>& reference,
                            const Estimate& predicted)
{
    run::RunCheck check;
    bool prefix_matches = true;
    for (std::size_t s = 0; s < result.run.steps.size() && s < reference.size(); ++s) {
        if (prefix_matches)
            check.max_relative_error = std::max(check.max_relative_error,
                                                run::relative_error(result.run.steps[s].hidden, reference[s].hidden));
        const bool same = result.run.steps[s].next_tokens == reference[s].next_tokens;
        check.tokens_match = check.tokens_match && same;
        prefix_matches = prefix_matches && same;
    }
    int stages = 1;
    for (const int stage : result.run.rank_stage)
        stages = std::max(stages, stage + 1);
    check.traffic_differences = run::compare_traffic(predicted, result.run, stages);
    for (const auto& t : result.times)
        check.step_ms.push_back(t.total_ms());
    return check;
}

} // namespace shard::cuda
