// Serving simulator benchmark: how long 10,000 requests take to simulate on one replica
// and on a deployment, and how long sampling the cost model's step times takes. Prints what
// BENCHMARKS.md records; the targets live there, not in the tests.
//
//   build/default/bin/bench_serving
#include "serving/deployment.h"
#include "serving/deployment_search.h"
#include "serving/step_time.h"

#include "core/presets.h"
#include "core/strategy.h"
#include "core/units.h"

#include <memory>

#include "bench_timing.h"

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace shard;
using namespace shard::serving;
using shard::bench::median_ms;

namespace {

void report(const char* name, const char* model_id, const char* topology_id, const char* layout, int replicas,
            double rate, DType dtype = DType::BF16, int shared_prefix = 0, int prefix_groups = 1)
{
    const auto& presets = PresetLibrary::instance();
    const ModelSpec model = presets.model(model_id);
    const Topology topology = presets.topology(topology_id);
    const Strategy strategy = parse_strategy_text(layout);
    SchedulerLimits limits;
    std::unique_ptr<CostModelStepTime> steps;
    const double sample_ms = median_ms(5, [&] {
        steps = std::make_unique<CostModelStepTime>(model, strategy, topology, dtype, dtype, limits.max_seqs, 8192,
                                                    int(limits.max_batched_tokens));
    });
    limits.kv_blocks = steps->kv_capacity_tokens() / limits.block_size;
    TrafficSpec traffic;
    traffic.arrivals.rate = rate;
    traffic.prompt = LengthDistribution::lognormal(1500, 3000);
    traffic.output = LengthDistribution::lognormal(250, 500);
    traffic.requests = 10000;
    traffic.shared_prefix = shared_prefix;
    traffic.prefix_groups = prefix_groups;
    const auto requests = generate_requests(traffic);
    DeploymentRun run;
    const double sim_ms = median_ms(5, [&] { run = simulate_deployment(requests, replicas, limits, *steps); });
    std::size_t step_count = 0;
    for (const auto& r : run.replicas)
        step_count += r.steps.size();
    std::printf("%-44s 10,000 requests  %7zu steps  median %7.1f ms (step times sampled in %5.1f ms)", name, step_count,
                sim_ms, sample_ms);
    if (shared_prefix > 0)
        std::printf("  %.1f %% of prompt tokens from the prefix cache",
                    100.0 * double(run.merged.prefix_hit_tokens)
                        / double(run.merged.prefill_tokens + run.merged.prefix_hit_tokens));
    std::printf("\n");
}

} // namespace

// `h200_nodes` > 0: HGX H200 nodes beside the DGX H100s, priced per kind, ranked by cost.
void report_search(const char* name, const char* model_id, int nodes, double rate, DType dtype, int h200_nodes = 0)
{
    const auto& presets = PresetLibrary::instance();
    const ModelSpec model = presets.model(model_id);
    Topology topology = presets.topology("16x-dgx-h100");
    topology.nodes = nodes;
    std::vector<Machine> machines{{topology, {}}};
    if (h200_nodes > 0) {
        Topology h200 = presets.topology("2x-hgx-h200");
        h200.nodes = h200_nodes;
        machines.push_back({h200, {}});
    }
    TrafficSpec traffic;
    traffic.arrivals.rate = rate;
    traffic.prompt = LengthDistribution::lognormal(1500, 3000);
    traffic.output = LengthDistribution::lognormal(250, 500);
    traffic.requests = 1000;
    const auto requests = generate_requests(traffic);
    Slo slo;
    slo.ttft_ms = 2000;
    slo.tpot_ms = 60;
    SearchSpace space;
    space.dtype = space.kv_dtype = dtype;
    space.prices = GpuPrices::parse("h100=2.49,h200=3.79");
    const SearchObjective objective = h200_nodes > 0 ? SearchObjective::CostPerToken : SearchObjective::FewestGpus;
    SearchResult result;
    const double ms =
        median_ms(3, [&] { result = search_deployments(model, machines, requests, slo, space, objective); });
    int gpus = 0;
    for (const Machine& m : machines)
        gpus += m.topology.total_gpus();
    const DeploymentOption* best = result.options.empty() ? nullptr : &result.options.front();
    std::printf("%-44s %4d GPUs budget  %4d simulations  median %8.1f ms  best: %s\n", name, gpus, result.simulated, ms,
                best ? (best->label() + " on " + std::to_string(best->gpus) + " " + best->gpu_text()
                        + (h200_nodes > 0 ? ", $" + format_fixed(best->usd_per_million_tokens, 3) + " per M tokens"
                                          : std::string()))
                           .c_str()
                     : "none");
}

int main()
{
    report("Llama-3.1-70B, 1 x TP8, 6 req/s", "llama-3.1-70b", "dgx-h100", "tp=8", 1, 6);
    report("Llama-3.1-8B, 8 x TP1, 60 req/s", "llama-3.1-8b", "dgx-h100", "tp=1", 8, 60);
    report("Llama-3.1-8B, 8 x TP1, 60 req/s, 1024-token prefixes x 8", "llama-3.1-8b", "dgx-h100", "tp=1", 8, 60,
           DType::BF16, 1024, 8);
    report("DeepSeek-V3 fp8, 1 x TP8 (8x H200), 4 req/s", "deepseek-v3", "8x-h200", "tp=8", 1, 4, DType::FP8);
    report_search("search: DeepSeek-V3 fp8, 128 x DGX H100, 20 req/s", "deepseek-v3", 128, 20, DType::FP8);
    report_search("search: Llama-3.1-70B, 16 x DGX H100, 20 req/s", "llama-3.1-70b", 16, 20, DType::BF16);
    report_search("search: Llama-3.1-70B, 8 x DGX H100 + 8 x HGX H200", "llama-3.1-70b", 8, 20, DType::BF16, 8);
    return 0;
}
