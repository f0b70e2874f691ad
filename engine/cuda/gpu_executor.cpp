#include "gpu_executor.h"

#include "gpu_mesh.h"

#include "runtime/traffic_check.h"

#include <algorithm>
#include <chrono>
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

GpuRunResult run_gpu(const Plan& plan, const cpu::ModelWeights& weights, const GpuRunOptions& options)
{
    const int decode = options.decode_steps >= 0 ? options.decode_steps : plan.workload.generate;
    const int B = plan.workload.batch;
    const int prompt = plan.workload.prompt;
    GpuModelOptions mo;
    mo.dtype = options.dtype;
    mo.emulated = options.emulated;
    mo.graphs = gpu_graphs_apply(plan, options.graphs);
    mo.overlap = options.overlap;
    mo.batch = B;
    mo.max_rows = B * prompt;
    mo.max_context = prompt + decode + 1;
    const bool graphs = mo.graphs;
    const auto started = std::chrono::steady_clock::now();
    GpuMesh mesh(weights, plan, mo);
    const int ranks = mesh.ranks();
    GpuRunResult result;
    for (int r = 0; r < ranks; ++r) {
        result.weight_bytes = std::max(result.weight_bytes, mesh.weight_bytes(r));
        result.workspace_bytes = std::max(result.workspace_bytes, mesh.workspace_bytes(r));
    }
    const auto tokens = cpu::prompt_tokens(plan.model, B, prompt);
    const int steps = 1 + decode;
    for (int s = 0; s < steps; ++s) {
        if (options.cancel && options.cancel->load())
            throw cpu::Cancelled("run cancelled");
        // Prefill and the first decode step are timed op by op; later decode steps replay a
        // graph when graphs are on, or are timed too where the plan cannot replay one.
        const bool timed = !graphs || s <= 1;
        std::vector<std::size_t> ops_before, records_before;
        for (int r = 0; r < ranks; ++r) {
            ops_before.push_back(mesh.log(r).ops.size());
            records_before.push_back(mesh.log(r).records.size());
        }
        cpu::StepOutput out = s == 0 ? mesh.step(tokens, 0, prompt, timed) : mesh.step({}, prompt + s - 1, 1, timed);
        result.run.steps.push_back(std::move(out));
        GpuStepTime time;
        time.gpu_ms = mesh.last_step_gpu_ms();
        time.graph = mesh.last_step_replayed_graphs();
        if (options.emulated && ranks > 1) {
            // Each rank's compute is measured on its own (its ops' events); its network time
            // is what the cost model gives its collectives. The step takes the busiest rank.
            for (int r = 0; r < ranks; ++r) {
                const RankLog& log = mesh.log(r);
                double compute = 0, network = 0;
                for (std::size_t i = ops_before[std::size_t(r)]; i < log.ops.size(); ++i)
                    compute += log.ops[i].us / 1000.0;
                for (std::size_t i = records_before[std::size_t(r)]; i < log.records.size(); ++i)
                    network += log.records[i].seconds * 1000.0;
                time.compute_ms = std::max(time.compute_ms, compute);
                time.network_ms = std::max(time.network_ms, network);
            }
            if (!timed) // a replayed graph runs every rank back to back; the shards are symmetric
                time.compute_ms = time.gpu_ms / ranks;
        } else {
            time.compute_ms = time.gpu_ms;
        }
        result.times.push_back(time);
        if (options.on_step)
            options.on_step(s, steps, mesh.log(0));
    }
    for (int r = 0; r < ranks; ++r) {
        result.run.logs.push_back(mesh.log(r));
        result.run.rank_stage.push_back(mesh.layout().stage_of(r));
    }
    result.run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

cpu::RunCheck check_gpu_run(const GpuRunResult& result, const std::vector<cpu::StepOutput>& reference,
                            const Estimate& predicted)
{
    cpu::RunCheck check;
    bool prefix_matches = true;
    for (std::size_t s = 0; s < result.run.steps.size() && s < reference.size(); ++s) {
        if (prefix_matches) {
            double diff = 0, norm = 0;
            for (std::size_t i = 0; i < reference[s].hidden.size(); ++i) {
                const double d = double(result.run.steps[s].hidden[i]) - reference[s].hidden[i];
                diff += d * d;
                norm += double(reference[s].hidden[i]) * reference[s].hidden[i];
            }
            check.max_relative_error = std::max(check.max_relative_error, norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff));
        }
        const bool same = result.run.steps[s].next_tokens == reference[s].next_tokens;
        check.tokens_match = check.tokens_match && same;
        prefix_matches = prefix_matches && same;
    }
    int stages = 1;
    for (const int stage : result.run.rank_stage)
        stages = std::max(stages, stage + 1);
    check.traffic_differences = cpu::compare_traffic(predicted, result.run, stages);
    for (const auto& t : result.times)
        check.step_ms.push_back(t.total_ms());
    return check;
}

} // namespace shard::cuda
