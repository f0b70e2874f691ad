#include "gpu_run_parts.h"
#include "engine_support.h"

#include "cuda_check.h"
#include "device_resources.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <mutex>
#include <thread>

namespace shard::cuda {

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
    std::vector<run::StepOutput> steps;
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
    const auto tokens = run::prompt_tokens(plan.model, plan.workload.batch, prompt);
    const int steps = 1 + decode;
    DriverRun run;
    for (int s = 0; s < steps; ++s) {
        if (!go_on(s))
            throw run::Cancelled("run cancelled");
        // Prefill and the first decode step are timed op by op; later decode steps replay a
        // graph when graphs are on, or are timed too where the plan cannot replay one.
        const bool timed = !graphs || s <= 1;
        std::vector<std::size_t> ops_before(static_cast<std::size_t>(ranks)),
            records_before(static_cast<std::size_t>(ranks));
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

} // namespace

GpuRunPart run_gpu_part(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options,
                        const GpuMeshScope* scope, const std::function<bool(int)>& go_on)
{
    const GpuModelOptions mo = model_options(plan, options);
    GpuMesh mesh(weights, plan, mo, scope);
    DriverRun run = drive(mesh, plan, options, mo.graphs, go_on);
    GpuRunPart part;
    part.steps = std::move(run.steps);
    part.times = std::move(run.times);
    part.outputs = mesh.outputs();
    for (int r = 0; r < mesh.ranks(); ++r) {
        if (!mesh.owns(r))
            continue;
        part.ranks.push_back(r);
        part.logs.push_back(mesh.log(r));
        part.stages.push_back(mesh.layout().stage_of(r));
        part.weight_bytes = std::max(part.weight_bytes, mesh.weight_bytes(r));
        part.workspace_bytes = std::max(part.workspace_bytes, mesh.workspace_bytes(r));
    }
    return part;
}

GpuRunResult merge_gpu_parts(const Plan& plan, std::vector<GpuRunPart> parts)
{
    const int n = plan.strategy.devices();
    GpuRunResult result;
    if (parts.empty())
        throw Error("no part of the run came back");
    result.run.logs.resize(std::size_t(n));
    result.run.rank_stage.assign(std::size_t(n), -1);
    const std::size_t steps = parts.front().steps.size();
    const std::int64_t h = plan.model.hidden;
    const std::int64_t B = plan.workload.batch / std::max(1, plan.strategy.dp); // per replica
    std::vector<bool> replica_seen(std::size_t(std::max(1, plan.strategy.dp)), false);
    for (std::size_t s = 0; s < steps; ++s) {
        run::StepOutput out;
        out.hidden.assign(std::size_t(plan.workload.batch * h), 0.0f);
        out.next_tokens.assign(std::size_t(plan.workload.batch), 0);
        GpuStepTime time;
        for (std::size_t p = 0; p < parts.size(); ++p) {
            const GpuRunPart& part = parts[p];
            if (part.steps.size() != steps || part.times.size() != steps)
                throw Error("the parts of the run disagree on its steps");
            for (const int replica : part.outputs) {
                std::copy_n(part.steps[s].hidden.begin() + replica * B * h, B * h,
                            out.hidden.begin() + replica * B * h);
                std::copy_n(part.steps[s].next_tokens.begin() + replica * B, B, out.next_tokens.begin() + replica * B);
                replica_seen[std::size_t(replica)] = true;
            }
            const GpuStepTime& t = part.times[s];
            if (p == 0 || t.gpu_ms > time.gpu_ms) // the slowest driver's step
                time = t;
        }
        result.run.steps.push_back(std::move(out));
        result.times.push_back(time);
    }
    for (auto& part : parts) {
        for (std::size_t i = 0; i < part.ranks.size(); ++i) {
            const int r = part.ranks[i];
            result.run.logs.at(std::size_t(r)) = std::move(part.logs[i]);
            result.run.rank_stage.at(std::size_t(r)) = part.stages[i];
        }
        result.weight_bytes = std::max(result.weight_bytes, part.weight_bytes);
        result.workspace_bytes = std::max(result.workspace_bytes, part.workspace_bytes);
    }
    for (int r = 0; r < n; ++r)
        if (result.run.rank_stage[std::size_t(r)] < 0)
            throw Error("rank " + std::to_string(r) + " of " + std::to_string(n) + " did not report");
    for (std::size_t replica = 0; replica < replica_seen.size(); ++replica)
        if (!replica_seen[replica] && steps > 0)
            throw Error("no part carried the results of replica " + std::to_string(replica));
    return result;
}

GpuRunResult run_gpu_threads(const Plan& plan, const run::ModelWeights& weights, const GpuRunOptions& options)
{
    const int n = run::mesh_layout(plan.strategy).ranks();
    int device_count = 0;
    SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
    require_local_gpus(n, device_count);
    NcclJoin join;
    join.id = nccl_unique_id();
    join.world_size = n;
    const auto started = std::chrono::steady_clock::now();
    const auto epoch = RankLog::Clock::now();
    std::vector<GpuRunPart> parts(static_cast<std::size_t>(n));
    std::mutex mutex;
    std::string first_error;
    std::atomic<bool> failed{false};
    bool stop = false; // written by the barrier's completion, read after it
    std::barrier step_barrier(n,
                              [&]() noexcept { stop = failed.load() || (options.cancel && options.cancel->load()); });
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
        threads.emplace_back([&, r] {
            bool done = false;
            try {
                DeviceGuard guard(r);
                GpuMeshScope scope;
                scope.ranks = {r};
                scope.devices = {r};
                scope.join = join;
                scope.join.ranks = {r};
                scope.epoch = epoch;
                parts[std::size_t(r)] = run_gpu_part(plan, weights, options, &scope, [&](int) {
                    step_barrier.arrive_and_wait();
                    return !stop;
                });
                done = true;
                step_barrier.arrive_and_drop(); // the others need not wait for this rank any more
            } catch (const std::exception& e) {
                failed = true;
                {
                    std::lock_guard lock(mutex);
                    if (first_error.empty() && !dynamic_cast<const run::Cancelled*>(&e))
                        first_error = "rank " + std::to_string(r) + ": " + e.what();
                }
                if (!done)
                    step_barrier.arrive_and_drop(); // nobody waits for this rank at the next step
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    if (!first_error.empty())
        throw Error(first_error);
    if (failed)
        throw run::Cancelled("run cancelled");
    GpuRunResult result = merge_gpu_parts(plan, std::move(parts));
    result.run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

namespace {

OrderedJson log_json(const RankLog& log)
{
    OrderedJson records = OrderedJson::array();
    for (const auto& c : log.records)
        records.push_back({{"kind", int(c.kind)},
                           {"group", c.group},
                           {"group_size", c.group_size},
                           {"payload", c.payload},
                           {"sent", c.sent},
                           {"received", c.received},
                           {"seconds", c.seconds},
                           {"start_us", c.start_us},
                           {"step", c.step},
                           {"control", c.control},
                           {"modeled", c.modeled}});
    OrderedJson ops = OrderedJson::array();
    for (const auto& o : log.ops)
        ops.push_back({{"name", o.name},
                       {"kind", o.kind},
                       {"layer", o.layer},
                       {"step", o.step},
                       {"start_us", o.start_us},
                       {"us", o.us}});
    return {{"step", log.step}, {"records", records}, {"ops", ops}, {"step_end_us", log.step_end_us}};
}

RankLog log_from_json(const OrderedJson& j)
{
    RankLog log;
    log.step = j.at("step").get<int>();
    for (const auto& c : j.at("records")) {
        CollectiveRecord r;
        r.kind = CollectiveKind(c.at("kind").get<int>());
        r.group = c.at("group").get<std::string>();
        r.group_size = c.at("group_size").get<int>();
        r.payload = c.at("payload").get<std::int64_t>();
        r.sent = c.at("sent").get<std::int64_t>();
        r.received = c.at("received").get<std::int64_t>();
        r.seconds = c.at("seconds").get<double>();
        r.start_us = c.at("start_us").get<double>();
        r.step = c.at("step").get<int>();
        r.control = c.at("control").get<bool>();
        r.modeled = c.at("modeled").get<bool>();
        log.records.push_back(std::move(r));
    }
    for (const auto& o : j.at("ops"))
        log.ops.push_back({o.at("name").get<std::string>(), o.at("kind").get<std::string>(), o.at("layer").get<int>(),
                           o.at("step").get<int>(), o.at("start_us").get<double>(), o.at("us").get<double>()});
    log.step_end_us = j.at("step_end_us").get<std::vector<double>>();
    return log;
}

} // namespace

OrderedJson to_json(const GpuRunPart& part)
{
    OrderedJson steps = OrderedJson::array();
    for (const auto& s : part.steps)
        steps.push_back({{"hidden", s.hidden}, {"tokens", s.next_tokens}});
    OrderedJson times = OrderedJson::array();
    for (const auto& t : part.times)
        times.push_back(
            {{"compute_ms", t.compute_ms}, {"network_ms", t.network_ms}, {"gpu_ms", t.gpu_ms}, {"graph", t.graph}});
    OrderedJson logs = OrderedJson::array();
    for (const auto& log : part.logs)
        logs.push_back(log_json(log));
    return {{"steps", steps},
            {"times", times},
            {"outputs", part.outputs},
            {"ranks", part.ranks},
            {"logs", logs},
            {"stages", part.stages},
            {"weight_bytes", part.weight_bytes},
            {"workspace_bytes", part.workspace_bytes}};
}

GpuRunPart gpu_run_part_from_json(const OrderedJson& j)
{
    GpuRunPart part;
    for (const auto& s : j.at("steps"))
        part.steps.push_back(
            {s.at("hidden").get<std::vector<float>>(), s.at("tokens").get<std::vector<std::int64_t>>()});
    for (const auto& t : j.at("times"))
        part.times.push_back({t.at("compute_ms").get<double>(), t.at("network_ms").get<double>(),
                              t.at("gpu_ms").get<double>(), t.at("graph").get<bool>()});
    part.outputs = j.at("outputs").get<std::vector<int>>();
    part.ranks = j.at("ranks").get<std::vector<int>>();
    for (const auto& log : j.at("logs"))
        part.logs.push_back(log_from_json(log));
    part.stages = j.at("stages").get<std::vector<int>>();
    part.weight_bytes = j.at("weight_bytes").get<std::size_t>();
    part.workspace_bytes = j.at("workspace_bytes").get<std::size_t>();
    if (part.logs.size() != part.ranks.size() || part.stages.size() != part.ranks.size())
        throw Error("a run part names " + std::to_string(part.ranks.size()) + " ranks but carries "
                    + std::to_string(part.logs.size()) + " logs");
    return part;
}

} // namespace shard::cuda
