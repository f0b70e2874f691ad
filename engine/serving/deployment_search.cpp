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

namespace {

// A replica layout worth simulating: one of the fastest of its GPU count on one machine.
struct Config {
    Strategy layout;
    std::size_t machine; // index into the machines searched
    Topology replica_machine; // the part of the machine one replica uses
    int gpus;
    bool first_of_size; // the fastest of its GPU count on its machine
};

// What the search is bounded by: GPUs per machine and in all, and money.
class Budget {
public:
    Budget(const std::vector<Machine>& machines, const SearchSpace& space)
        : m_machines(machines)
        , m_space(space)
    {
        int all = 0;
        for (const Machine& m : machines) {
            all += m.topology.total_gpus();
            m_usd.push_back(space.prices.usd_per_gpu_hour(m.topology.gpu)); // unpriced kinds throw here
        }
        m_gpus = space.max_gpus > 0 ? std::min(space.max_gpus, all) : all;
        if (space.max_usd_per_hour > 0 && space.prices.empty())
            throw Error("a money budget needs the GPUs' prices: give the price per GPU-hour of each kind");
    }
    int gpus() const { return m_gpus; }
    int gpus_on(std::size_t machine) const { return std::min(m_gpus, m_machines[machine].topology.total_gpus()); }
    double usd_per_hour(std::size_t machine, int gpus) const { return m_usd[machine] * gpus; }
    // Whether `a` GPUs of machine `ma` and `b` of machine `mb` (0 GPUs: no pool) fit.
    bool fits(std::size_t ma, int a, std::size_t mb, int b) const
    {
        if (a + b > m_gpus)
            return false;
        if (ma == mb)
            return a + b <= m_machines[ma].topology.total_gpus() && affordable(usd_per_hour(ma, a + b));
        return a <= m_machines[ma].topology.total_gpus() && b <= m_machines[mb].topology.total_gpus()
               && affordable(usd_per_hour(ma, a) + usd_per_hour(mb, b));
    }

private:
    bool affordable(double usd) const
    {
        return m_space.max_usd_per_hour <= 0 || usd <= m_space.max_usd_per_hour * (1 + 1e-12);
    }
    const std::vector<Machine>& m_machines;
    const SearchSpace& m_space;
    std::vector<double> m_usd; // per GPU-hour, per machine
    int m_gpus = 0;
};

// How many doublings of a deployment of `a` + `b` GPUs fit the budget, from one.
int doublings(const Budget& budget, std::size_t ma, int a, std::size_t mb, int b)
{
    int n = 0;
    for (int scale = 1; budget.fits(ma, scale * a, mb, scale * b); scale *= 2)
        ++n;
    return n;
}

} // namespace

SearchResult search_deployments(const ModelSpec& model, const std::vector<Machine>& machines,
                                const std::vector<Request>& requests, const Slo& slo, const SearchSpace& space,
                                SearchObjective objective, const std::function<void(const SearchProgress&)>& progress,
                                const std::atomic<bool>* cancel)
{
    if (machines.empty())
        throw Error("a deployment search needs a machine to deploy on");
    if (requests.empty())
        throw Error("a deployment search needs traffic: no requests");
    slo.validate();
    const Budget budget(machines, space);
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
    auto machine_name = [&](std::size_t m) {
        return machines.size() > 1 ? machines[m].topology.name + ", " : std::string();
    };

    // The layouts worth simulating: per machine and GPU count, the fastest that fit as one
    // replica.
    std::vector<Config> configs;
    SearchResult result;
    for (std::size_t m = 0; m < machines.size(); ++m) {
        const Topology& topology = machines[m].topology;
        PlannerOptions planner;
        planner.efficiency = machines[m].efficiency;
        for (int gpus = 1; gpus <= budget.gpus_on(m); gpus *= 2) {
            if (gpus > topology.gpus_per_node && gpus % topology.gpus_per_node != 0)
                continue;
            const Topology replica = replica_topology(topology, gpus);
            int kept = 0;
            for (const Candidate& c : plan_candidates(model, replica, typical, planner).candidates) {
                if (kept == space.layouts_per_size)
                    break;
                if (c.estimate.feasible && c.strategy.dp == 1)
                    configs.push_back({c.strategy, m, replica, gpus, kept++ == 0});
            }
            if (kept == 0)
                result.skipped.push_back(machine_name(m) + std::to_string(gpus) + " GPUs: no single-replica layout of "
                                         + model.name + " fits");
        }
    }
    // The pool pairs of a disaggregated search: the fastest layout of each GPU count on each
    // machine, the two pools' replicas within a factor of two in size.
    static constexpr std::pair<int, int> kRatios[] = {{1, 1}, {1, 2}, {2, 1}, {1, 3}, {3, 1}};
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    if (space.disaggregated)
        for (std::size_t i = 0; i < configs.size(); ++i)
            for (std::size_t j = 0; j < configs.size(); ++j) {
                const Config &pc = configs[i], &dc = configs[j];
                if (pc.first_of_size && dc.first_of_size && pc.gpus <= 2 * dc.gpus && dc.gpus <= 2 * pc.gpus
                    && budget.fits(pc.machine, pc.gpus, dc.machine, dc.gpus))
                    pairs.push_back({i, j});
            }
    SearchProgress p;
    for (const Config& c : configs)
        p.total += int(space.max_seqs.size()) * doublings(budget, c.machine, c.gpus, c.machine, 0);
    for (const auto& [i, j] : pairs)
        for (const auto& [rp, rd] : kRatios)
            p.total +=
                doublings(budget, configs[i].machine, rp * configs[i].gpus, configs[j].machine, rd * configs[j].gpus);
    std::vector<std::string> sources;
    auto note_source = [&](std::size_t m, const CostModelStepTime& steps) {
        const std::string source =
            machines.size() > 1 ? machines[m].topology.gpu.name + ": " + steps.source() : steps.source();
        if (std::find(sources.begin(), sources.end(), source) == sources.end())
            sources.push_back(source);
    };
    auto priced = [](DeploymentOption& option) {
        option.usd_per_million_tokens = usd_per_million_tokens(option.usd_per_hour, option.summary.output_tokens_per_s);
    };

    for (const Config& c : configs) {
        const Topology& machine = machines[c.machine].topology;
        for (const int seqs : space.max_seqs) {
            std::unique_ptr<CostModelStepTime> steps;
            const int tries = doublings(budget, c.machine, c.gpus, c.machine, 0);
            try {
                steps = std::make_unique<CostModelStepTime>(
                    model, c.layout, c.replica_machine, space.dtype, space.kv_dtype, seqs, max_context,
                    int(space.max_batched_tokens), machines[c.machine].efficiency);
            } catch (const Error& e) {
                result.skipped.push_back(machine_name(c.machine) + c.layout.label() + ", max " + std::to_string(seqs)
                                         + " sequences: " + e.what());
                p.done += tries;
                continue;
            }
            note_source(c.machine, *steps);
            SchedulerLimits limits;
            limits.max_seqs = seqs;
            limits.max_batched_tokens = space.max_batched_tokens;
            limits.prefix_caching = space.prefix_caching;
            limits.kv_blocks = steps->kv_capacity_tokens() / limits.block_size;
            int tried = 0;
            for (int replicas = 1; budget.fits(c.machine, replicas * c.gpus, c.machine, 0); replicas *= 2) {
                if (cancel && cancel->load())
                    throw Error("deployment search cancelled");
                DeploymentOption option;
                option.layout = c.layout;
                option.replicas = replicas;
                option.machine = machine;
                option.gpus = replicas * c.gpus;
                option.nodes = nodes_for(machine, option.gpus);
                option.limits = limits;
                option.usd_per_hour = budget.usd_per_hour(c.machine, option.gpus);
                p.current = option.label() + (machines.size() > 1 ? " on " + option.gpu_text() : std::string())
                            + ", max " + std::to_string(seqs) + " sequences";
                const DeploymentRun run = simulate_deployment(requests, replicas, limits, *steps);
                option.summary = summarize(run.merged, slo, limits.kv_blocks);
                priced(option);
                // A larger batch limit that never binds serves exactly as the smaller one: keep
                // the smaller.
                const bool same_as_smaller =
                    std::any_of(result.options.begin(), result.options.end(), [&](const DeploymentOption& o) {
                        return o.layout == option.layout && o.replicas == option.replicas && !o.prefill_layout
                               && o.machine == option.machine && o.summary.ttft_ms.mean == option.summary.ttft_ms.mean
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
            const Config& c = configs[config];
            try {
                slot = std::make_unique<CostModelStepTime>(
                    model, c.layout, c.replica_machine, space.dtype, space.kv_dtype, space.max_seqs.back(), max_context,
                    int(space.max_batched_tokens), machines[c.machine].efficiency);
            } catch (const Error&) {
                return nullptr; // the aggregated search named why
            }
        }
        return slot.get();
    };
    for (const auto& [pi, di] : pairs) {
        const Config& pc = configs[pi];
        const Config& dc = configs[di];
        const Topology& prefill_machine = machines[pc.machine].topology;
        const Topology& decode_machine = machines[dc.machine].topology;
        const CostModelStepTime* ps = steps_of(pi);
        const CostModelStepTime* ds = steps_of(di);
        int tries = 0;
        for (const auto& [rp, rd] : kRatios)
            tries += doublings(budget, pc.machine, rp * pc.gpus, dc.machine, rd * dc.gpus);
        std::optional<KvTransfer> transfer;
        if (ps && ds) {
            try {
                transfer =
                    price_kv_transfer(model, space.kv_dtype, prefill_machine, decode_machine, pc.layout, dc.layout);
            } catch (const Error& e) {
                const std::string why = std::string("disaggregated pools: ") + e.what();
                if (std::find(result.skipped.begin(), result.skipped.end(), why) == result.skipped.end())
                    result.skipped.push_back(why);
            }
        }
        if (!transfer) {
            p.done += tries;
            continue;
        }
        for (const auto& [rp, rd] : kRatios) {
            for (int scale = 1; budget.fits(pc.machine, scale * rp * pc.gpus, dc.machine, scale * rd * dc.gpus);
                 scale *= 2) {
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
                option.machine = decode_machine;
                option.prefill_layout = pc.layout;
                option.prefill_replicas = prefill.replicas;
                option.prefill_machine = prefill_machine;
                option.gpus = prefill.gpus() + decode.gpus();
                option.nodes = pc.machine == dc.machine ? nodes_for(decode_machine, option.gpus)
                                                        : nodes_for(prefill_machine, prefill.gpus())
                                                              + nodes_for(decode_machine, decode.gpus());
                option.limits = decode.limits;
                option.usd_per_hour =
                    budget.usd_per_hour(pc.machine, prefill.gpus()) + budget.usd_per_hour(dc.machine, decode.gpus());
                p.current = option.label() + (machines.size() > 1 ? " on " + option.gpu_text() : std::string());
                const DisaggregatedRun run = simulate_disaggregated(requests, prefill, decode, *transfer);
                option.kv_transfer_ms = run.transfer_ms_mean;
                option.summary = summarize(run.merged, slo, decode.limits.kv_blocks);
                priced(option);
                result.options.push_back(option);
                ++result.simulated;
                --tries;
                ++p.done;
                if (progress)
                    progress(p);
                if (option.summary.meets_slo)
                    break;
            }
        }
        p.done += tries;
    }
    for (const std::string& source : sources)
        result.step_source += (result.step_source.empty() ? "" : "; ") + source;
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

SearchResult search_deployments(const ModelSpec& model, const Topology& topology, const std::vector<Request>& requests,
                                const Slo& slo, const SearchSpace& space, SearchObjective objective,
                                const Efficiency& efficiency,
                                const std::function<void(const SearchProgress&)>& progress,
                                const std::atomic<bool>* cancel)
{
    return search_deployments(model, std::vector<Machine>{{topology, efficiency}}, requests, slo, space, objective,
                              progress, cancel);
}

} // namespace shard::serving
