#include "gpu_executor.h"

#include "gpu_mesh.h"

#include "runtime/traffic_check.h"

#include "cuda_check.h"
#include "device_resources.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

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

namespace {

GpuModelOptions model_options(const Plan& plan, const GpuRunOptions& options)
{
    const int decode = options.decode_steps >= 0 ? options.decode_steps : plan.workload.generate;
    GpuModelOptions mo;
    mo.dtype = options.dtype;
    mo.emulated = options.emulated;
    mo.graphs = gpu_graphs_apply(plan, options.graphs);
    mo.overlap = options.overlap;
    mo.batch = plan.workload.batch;
    mo.max_rows = plan.workload.batch * plan.workload.prompt;
    mo.max_context = plan.workload.prompt + decode + 1;
    return mo;
}

// What one driver saw of a run: every step's output (the replicas it returns) and time.
struct DriverRun {
    std::vector<cpu::StepOutput> steps;
    std::vector<GpuStepTime> times;
};

// Runs every step of the plan on this driver's part of the mesh; go_on(s) says whether to
// start step s (false: cancelled).
DriverRun drive(GpuMesh& mesh, const Plan& plan, const GpuRunOptions& options, bool graphs,
                const std::function<bool(int)>& go_on)
{
    const int decode = options.decode_steps >= 0 ? options.decode_steps : plan.workload.generate;
    const int prompt = plan.workload.prompt;
    const int ranks = mesh.ranks();
    const auto tokens = cpu::prompt_tokens(plan.model, plan.workload.batch, prompt);
    const int steps = 1 + decode;
    DriverRun run;
    for (int s = 0; s < steps; ++s) {
        if (!go_on(s))
            throw cpu::Cancelled("run cancelled");
        // Prefill and the first decode step are timed op by op; later decode steps replay a
        // graph when graphs are on, or are timed too where the plan cannot replay one.
        const bool timed = !graphs || s <= 1;
        std::vector<std::size_t> ops_before(static_cast<std::size_t>(ranks)), records_before(static_cast<std::size_t>(ranks));
        for (int r = 0; r < ranks; ++r)
            if (mesh.owns(r)) {
                ops_before[std::size_t(r)] = mesh.log(r).ops.size();
                records_before[std::size_t(r)] = mesh.log(r).records.size();
            }
        run.steps.push_back(s == 0 ? mesh.step(tokens, 0, prompt, timed) : mesh.step({}, prompt + s - 1, 1, timed));
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
        run.times.push_back(time);
        if (options.on_step && mesh.owns(0))
            options.on_step(s, steps, mesh.log(0));
    }
    return run;
}

void add_rank(GpuRunResult& result, const GpuMesh& mesh, int rank)
{
    result.run.logs[std::size_t(rank)] = mesh.log(rank);
    result.run.rank_stage[std::size_t(rank)] = mesh.layout().stage_of(rank);
    result.weight_bytes = std::max(result.weight_bytes, mesh.weight_bytes(rank));
    result.workspace_bytes = std::max(result.workspace_bytes, mesh.workspace_bytes(rank));
}

// One host thread per GPU, each driving its own rank of the mesh; they meet in NCCL calls
// and, before every step, at a barrier that decides once for all whether to go on.
GpuRunResult run_gpu_threads(const Plan& plan, const cpu::ModelWeights& weights, const GpuRunOptions& options,
                             const GpuModelOptions& mo)
{
    const int n = gpu_mesh_layout(plan.strategy).ranks();
    int device_count = 0;
    SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
    if (device_count < n)
        throw Error("the plan needs " + std::to_string(n) + " GPUs and this machine has " + std::to_string(device_count)
                    + "; run it with --backend cuda-emulated to emulate the ranks on one GPU");
    NcclJoin join;
    join.id = nccl_unique_id();
    join.world_size = n;
    GpuRunResult result;
    result.run.logs.resize(std::size_t(n));
    result.run.rank_stage.resize(std::size_t(n));
    std::vector<DriverRun> runs(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> outputs(static_cast<std::size_t>(n));
    std::mutex mutex;
    std::string first_error;
    std::atomic<bool> failed{false};
    bool stop = false; // written by the barrier's completion, read after it
    std::barrier step_barrier(n, [&]() noexcept { stop = failed.load() || (options.cancel && options.cancel->load()); });
    const auto started = std::chrono::steady_clock::now();
    const auto epoch = RankLog::Clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
        threads.emplace_back([&, r] {
            bool arrived_for_good = false;
            try {
                DeviceGuard guard(r);
                GpuMeshScope scope;
                scope.ranks = {r};
                scope.devices = {r};
                scope.join = join;
                scope.join.ranks = {r};
                scope.epoch = epoch;
                GpuMesh mesh(weights, plan, mo, &scope);
                runs[std::size_t(r)] = drive(mesh, plan, options, mo.graphs, [&](int) {
                    step_barrier.arrive_and_wait();
                    return !stop;
                });
                arrived_for_good = true;
                step_barrier.arrive_and_drop(); // the others may still wait for a last step
                std::lock_guard lock(mutex);
                add_rank(result, mesh, r);
                outputs[std::size_t(r)] = mesh.outputs();
            } catch (const std::exception& e) {
                failed = true;
                {
                    std::lock_guard lock(mutex);
                    const bool cancelled = dynamic_cast<const cpu::Cancelled*>(&e) != nullptr;
                    if (first_error.empty() && !cancelled)
                        first_error = "rank " + std::to_string(r) + ": " + e.what();
                }
                if (!arrived_for_good)
                    step_barrier.arrive_and_drop(); // nobody waits for this rank at the next step
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    if (!first_error.empty())
        throw Error(first_error);
    if (failed)
        throw cpu::Cancelled("run cancelled");
    // Each replica's results come from the thread that ran its last stage's rank 0.
    const std::size_t steps = runs.front().steps.size();
    for (std::size_t s = 0; s < steps; ++s) {
        cpu::StepOutput out = runs.front().steps[s];
        GpuStepTime time;
        const std::int64_t h = plan.model.hidden;
        const int B = plan.workload.batch / std::max(1, plan.strategy.dp);
        for (int r = 0; r < n; ++r) {
            const auto& part = runs[std::size_t(r)].steps[s];
            for (const int replica : outputs[std::size_t(r)]) {
                std::copy_n(part.hidden.begin() + std::int64_t(replica) * B * h, B * h, out.hidden.begin() + std::int64_t(replica) * B * h);
                std::copy_n(part.next_tokens.begin() + std::int64_t(replica) * B, B, out.next_tokens.begin() + std::int64_t(replica) * B);
            }
            const GpuStepTime& t = runs[std::size_t(r)].times[s];
            time.gpu_ms = std::max(time.gpu_ms, t.gpu_ms); // wall clock of the slowest driver
            time.graph = t.graph;
        }
        time.compute_ms = time.gpu_ms;
        result.run.steps.push_back(std::move(out));
        result.times.push_back(time);
    }
    result.run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

} // namespace

GpuRunResult run_gpu(const Plan& plan, const cpu::ModelWeights& weights, const GpuRunOptions& options)
{
    const GpuModelOptions mo = model_options(plan, options);
    if (!options.emulated && options.thread_per_gpu && gpu_mesh_layout(plan.strategy).ranks() > 1)
        return run_gpu_threads(plan, weights, options, mo);
    const auto started = std::chrono::steady_clock::now();
    GpuMesh mesh(weights, plan, mo);
    GpuRunResult result;
    const DriverRun run = drive(mesh, plan, options, mo.graphs,
                                [&](int) { return !(options.cancel && options.cancel->load()); });
    result.run.steps = run.steps;
    result.times = run.times;
    result.run.logs.resize(std::size_t(mesh.ranks()));
    result.run.rank_stage.resize(std::size_t(mesh.ranks()));
    for (int r = 0; r < mesh.ranks(); ++r)
        add_rank(result, mesh, r);
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
