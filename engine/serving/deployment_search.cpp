#include "deployment_search.h"

#include "disaggregated.h"

#include "core/error.h"
#include "planner/planner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

namespace shard::serving {

std::string to_string(SearchObjective objective)
{
    switch (objective) {
    case SearchObjective::GoodputPerGpu:
        return "goodput";
    case SearchObjective::FewestGpus:
        return "gpus";
    case SearchObjective::CostPerToken:
        return "cost";
    }
    return "goodput";
}

std::string DeploymentOption::label() const
{
    const std::string pool = std::to_string(replicas) + " x " + layout.label();
    return prefill_layout
               ? std::to_string(prefill_replicas) + " x " + prefill_layout->label() + " prefill + " + pool + " decode"
               : pool;
}

SearchObjective parse_search_objective(const std::string& text)
{
    for (const auto o : {SearchObjective::GoodputPerGpu, SearchObjective::FewestGpus, SearchObjective::CostPerToken})
        if (text == to_string(o))
            return o;
    throw Error("the search objective is goodput, gpus or cost, not '" + text + "'");
}

Topology replica_topology(const Topology& topology, int gpus)
{
    Topology t = topology;
    if (gpus <= topology.gpus_per_node) {
        t.nodes = 1;
        t.gpus_per_node = gpus;
    } else {
        t.nodes = gpus / topology.gpus_per_node;
    }
    return t;
}

namespace {

int median_of(std::vector<int> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 1 : v[v.size() / 2];
}

bool better(const DeploymentOption& a, const DeploymentOption& b, SearchObjective objective)
{
    if (a.summary.meets_slo != b.summary.meets_slo)
        return a.summary.meets_slo;
    const double ga = a.summary.goodput_per_s / a.gpus, gb = b.summary.goodput_per_s / b.gpus;
    switch (objective) {
    case SearchObjective::FewestGpus:
        if (a.gpus != b.gpus)
            return a.gpus < b.gpus;
        break;
    case SearchObjective::CostPerToken:
        if (a.usd_per_million_tokens != b.usd_per_million_tokens)
            return a.usd_per_million_tokens < b.usd_per_million_tokens;
        break;
    case SearchObjective::GoodputPerGpu:
        break;
    }
    if (ga != gb)
        return ga > gb;
    return a.summary.ttft_ms.at_slo < b.summary.ttft_ms.at_slo;
}

} // namespace

SearchResult search_deployments(const ModelSpec& model, const Topology& topology, const std::vector<Request>& requests,
                                const Slo& slo, const SearchSpace& space, SearchObjective objective,
                                const Efficiency& efficiency,
                                const std::function<void(const SearchProgress&)>& progress,
                                const std::atomic<bool>* cancel)
{
    if (requests.empty())
        throw Error("a deployment search needs traffic: no requests");
    slo.validate();
    const int budget = space.max_gpus > 0 ? std::min(space.max_gpus, topology.total_gpus()) : topology.total_gpus();
    std::vector<int> prompts, outputs;
    int longest = 2;
    for (const Request& r : requests) {
        prompts.push_back(r.prompt);
        outputs.push_back(r.output);
        longest = std::max(longest, r.prompt + r.output);
    }
    const int max_context = int(std::min<std::int64_t>(longest, model.max_context));
    Workload typical;
    typical.dtype = space.dtype;
    typical.kv_dtype = space.kv_dtype;
    typical.batch = 32;
    typical.prompt = std::min(median_of(prompts), max_context - 1);
    typical.generate = std::min(median_of(outputs), max_context - typical.prompt);
    PlannerOptions planner;
    planner.efficiency = efficiency;

    // The layouts worth simulating: per GPU count, the fastest that fit as one replica.
    struct Config {
        Strategy layout;
        Topology machine;
        int gpus;
    };
    std::vector<Config> configs;
    SearchResult result;
    for (int gpus = 1; gpus <= budget; gpus *= 2) {
        if (gpus > topology.gpus_per_node && gpus % topology.gpus_per_node != 0)
            continue;
        const Topology machine = replica_topology(topology, gpus);
        int kept = 0;
        for (const Candidate& c : plan_candidates(model, machine, typical, planner).candidates) {
            if (kept == space.layouts_per_size)
                break;
            if (c.estimate.feasible && c.strategy.dp == 1) {
                configs.push_back({c.strategy, machine, gpus});
                ++kept;
            }
        }
        if (kept == 0)
            result.skipped.push_back(std::to_string(gpus) + " GPUs: no single-replica layout of " + model.name
                                     + " fits");
    }
    // The pool pairs of a disaggregated search: the fastest layout of each GPU count, the two
    // pools' replicas within a factor of two in size.
    static constexpr std::pair<int, int> kRatios[] = {{1, 1}, {1, 2}, {2, 1}, {1, 3}, {3, 1}};
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    if (space.disaggregated)
        for (std::size_t i = 0; i < configs.size(); ++i)
            for (std::size_t j = 0; j < configs.size(); ++j) {
                const bool first_i = i == 0 || configs[i - 1].gpus != configs[i].gpus;
                const bool first_j = j == 0 || configs[j - 1].gpus != configs[j].gpus;
                const int a = configs[i].gpus, b = configs[j].gpus;
                if (first_i && first_j && a <= 2 * b && b <= 2 * a && a + b <= budget)
                    pairs.push_back({i, j});
            }
    SearchProgress p;
    for (const Config& c : configs)
        p.total += int(space.max_seqs.size()) * (int(std::floor(std::log2(double(budget / c.gpus)))) + 1);
    for (const auto& [i, j] : pairs)
        p.total += int(std::size(kRatios))
                   * (int(std::floor(std::log2(double(budget) / (configs[i].gpus + configs[j].gpus)))) + 1);

    for (const Config& c : configs) {
        for (const int seqs : space.max_seqs) {
            std::unique_ptr<CostModelStepTime> steps;
            const int tries = int(std::floor(std::log2(double(budget / c.gpus)))) + 1;
            try {
                steps =
                    std::make_unique<CostModelStepTime>(model, c.layout, c.machine, space.dtype, space.kv_dtype, seqs,
                                                        max_context, int(space.max_batched_tokens), efficiency);
            } catch (const Error& e) {
                result.skipped.push_back(c.layout.label() + ", max " + std::to_string(seqs)
                                         + " sequences: " + e.what());
                p.done += tries;
                continue;
            }
            if (result.step_source.empty())
                result.step_source = steps->source();
            SchedulerLimits limits;
            limits.max_seqs = seqs;
            limits.max_batched_tokens = space.max_batched_tokens;
            limits.prefix_caching = space.prefix_caching;
            limits.kv_blocks = steps->kv_capacity_tokens() / limits.block_size;
            int tried = 0;
            for (int replicas = 1; replicas * c.gpus <= budget; replicas *= 2) {
                if (cancel && cancel->load())
                    throw Error("deployment search cancelled");
                p.current = std::to_string(replicas) + " x " + c.layout.label() + ", max " + std::to_string(seqs)
                            + " sequences";
                DeploymentOption option;
                option.layout = c.layout;
                option.replicas = replicas;
                option.gpus = replicas * c.gpus;
                option.nodes = (option.gpus + topology.gpus_per_node - 1) / topology.gpus_per_node;
                option.limits = limits;
                const DeploymentRun run = simulate_deployment(requests, replicas, limits, *steps);
                option.summary = summarize(run.merged, slo, limits.kv_blocks);
                option.usd_per_million_tokens =
                    usd_per_million_tokens(space.usd_per_gpu_hour, option.gpus, option.summary.output_tokens_per_s);
                // A larger batch limit that never binds serves exactly as the smaller one: keep
                // the smaller.
                const bool same_as_smaller =
                    std::any_of(result.options.begin(), result.options.end(), [&](const DeploymentOption& o) {
                        return o.layout == option.layout && o.replicas == option.replicas
                               && o.summary.ttft_ms.mean == option.summary.ttft_ms.mean
                               && o.summary.e2e_ms.mean == option.summary.e2e_ms.mean;
                    });
                if (!same_as_smaller)
                    result.options.push_back(option);
                ++result.simulated;
                ++tried;
                ++p.done;
                if (progress)
                    progress(p);
                if (option.summary.meets_slo)
                    break; // more replicas only add GPUs
            }
            p.done += tries - tried;
        }
    }
    // Disaggregated pools, with the largest batch limit (a decode pool wants many sequences;
    // a prefill pool is bounded by its token budget).
    std::map<std::size_t, std::unique_ptr<CostModelStepTime>> pool_steps;
    auto steps_of = [&](std::size_t config) -> const CostModelStepTime* {
        auto& slot = pool_steps[config];
        if (!slot) {
            try {
                slot = std::make_unique<CostModelStepTime>(model, configs[config].layout, configs[config].machine,
                                                           space.dtype, space.kv_dtype, space.max_seqs.back(),
                                                           max_context, int(space.max_batched_tokens), efficiency);
            } catch (const Error&) {
                return nullptr; // the aggregated search named why
            }
        }
        return slot.get();
    };
    for (const auto& [pi, di] : pairs) {
        const Config& pc = configs[pi];
        const Config& dc = configs[di];
        const CostModelStepTime* ps = steps_of(pi);
        const CostModelStepTime* ds = steps_of(di);
        const int tries = int(std::floor(std::log2(double(budget) / (pc.gpus + dc.gpus)))) + 1;
        if (!ps || !ds) {
            p.done += int(std::size(kRatios)) * tries;
            continue;
        }
        const KvTransfer transfer = price_kv_transfer(model, space.kv_dtype, topology, pc.layout, dc.layout);
        for (const auto& [rp, rd] : kRatios) {
            int tried = 0;
            for (int scale = 1; scale * (rp * pc.gpus + rd * dc.gpus) <= budget; scale *= 2) {
                if (cancel && cancel->load())
                    throw Error("deployment search cancelled");
                Pool prefill{pc.layout, rp * scale, {}, ps};
                Pool decode{dc.layout, rd * scale, {}, ds};
                for (auto [pool, steps] : {std::pair{&prefill, ps}, std::pair{&decode, ds}}) {
                    pool->limits.max_seqs = space.max_seqs.back();
                    pool->limits.max_batched_tokens = space.max_batched_tokens;
                    pool->limits.prefix_caching = space.prefix_caching;
                    pool->limits.kv_blocks = steps->kv_capacity_tokens() / pool->limits.block_size;
                }
                DeploymentOption option;
                option.layout = dc.layout;
                option.replicas = decode.replicas;
                option.prefill_layout = pc.layout;
                option.prefill_replicas = prefill.replicas;
                option.gpus = prefill.gpus() + decode.gpus();
                option.nodes = (option.gpus + topology.gpus_per_node - 1) / topology.gpus_per_node;
                option.limits = decode.limits;
                p.current = option.label();
                const DisaggregatedRun run = simulate_disaggregated(requests, prefill, decode, transfer);
                option.kv_transfer_ms = run.transfer_ms_mean;
                option.summary = summarize(run.merged, slo, decode.limits.kv_blocks);
                option.usd_per_million_tokens =
                    usd_per_million_tokens(space.usd_per_gpu_hour, option.gpus, option.summary.output_tokens_per_s);
                result.options.push_back(option);
                ++result.simulated;
                ++tried;
                ++p.done;
                if (progress)
                    progress(p);
                if (option.summary.meets_slo)
                    break;
            }
            p.done += tries - tried;
        }
    }
    std::stable_sort(result.options.begin(), result.options.end(),
                     [&](const DeploymentOption& a, const DeploymentOption& b) { return better(a, b, objective); });
    // The front: no other option serves more tokens per GPU at as many tokens per user.
    for (auto& o : result.options) {
        const double x = o.summary.output_tokens_per_s / o.gpus, y = o.summary.tokens_per_s_per_user;
        o.pareto = std::none_of(result.options.begin(), result.options.end(), [&](const DeploymentOption& q) {
            const double qx = q.summary.output_tokens_per_s / q.gpus, qy = q.summary.tokens_per_s_per_user;
            return qx >= x && qy >= y && (qx > x || qy > y);
        });
    }
    return result;
}

} // namespace shard::serving
