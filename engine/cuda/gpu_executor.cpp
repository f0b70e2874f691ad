#include "gpu_executor.h"

#include "runtime/traffic_check.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace shard::cuda {

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
    mo.graphs = options.graphs && !plan.model.is_moe(); // MoE steps read expert row counts back to the host
    mo.overlap = options.overlap;
    mo.batch = B;
    mo.max_rows = B * prompt;
    mo.max_context = prompt + decode + 1;
    const auto started = std::chrono::steady_clock::now();
    GpuModel model(weights, plan, mo);
    GpuRunResult result;
    result.weight_bytes = model.weight_bytes(0);
    result.workspace_bytes = model.workspace_bytes(0);
    const auto tokens = cpu::prompt_tokens(plan.model, B, prompt);
    const int steps = 1 + decode;
    for (int s = 0; s < steps; ++s) {
        if (options.cancel && options.cancel->load())
            throw cpu::Cancelled("run cancelled");
        // Prefill and the first decode step are timed op by op; later decode steps replay a
        // graph when graphs are on.
        const bool timed = !options.graphs || s <= 1;
        const std::size_t ops_before = model.log(0).ops.size();
        std::vector<std::size_t> rank_ops_before;
        for (int r = 0; r < model.ranks(); ++r)
            rank_ops_before.push_back(model.log(r).ops.size());
        const std::size_t records_before = model.log(0).records.size();
        cpu::StepOutput out = s == 0 ? model.step(tokens, 0, prompt, timed) : model.step({}, prompt + s - 1, 1, timed);
        result.run.steps.push_back(std::move(out));
        GpuStepTime time;
        time.gpu_ms = model.last_step_gpu_ms();
        time.graph = !timed;
        const bool emulated = options.emulated && model.ranks() > 1;
        if (emulated) {
            if (timed) {
                for (int r = 0; r < model.ranks(); ++r) {
                    double sum = 0;
                    const auto& ops = model.log(r).ops;
                    for (std::size_t i = rank_ops_before[std::size_t(r)]; i < ops.size(); ++i)
                        sum += ops[i].us / 1000.0;
                    time.compute_ms = std::max(time.compute_ms, sum);
                }
            } else {
                // A replayed graph runs every rank back to back; the shards are symmetric.
                time.compute_ms = time.gpu_ms / model.ranks();
            }
            const auto& records = model.log(0).records;
            for (std::size_t i = records_before; i < records.size(); ++i)
                time.network_ms += records[i].seconds * 1000.0;
        } else {
            time.compute_ms = time.gpu_ms;
        }
        (void)ops_before;
        result.times.push_back(time);
        if (options.on_step)
            options.on_step(s, steps, model.log(0));
    }
    for (int r = 0; r < model.ranks(); ++r) {
        result.run.logs.push_back(model.log(r));
        result.run.rank_stage.push_back(0);
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
    check.traffic_differences = cpu::compare_traffic(predicted, result.run, 1);
    for (const auto& t : result.times)
        check.step_ms.push_back(t.total_ms());
    return check;
}

} // namespace shard::cuda
