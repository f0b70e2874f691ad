#pragma once

#include "deployment_option.h"
#include "gpu_prices.h"

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"
#include "cost/hardware_model.h"

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace shard::serving {

// What a deployment search ranks by. Every objective puts the deployments that meet the
// SLO first.
enum class SearchObjective {
    GoodputPerGpu, // most requests per second meeting the SLO per GPU
    FewestGpus, // the fewest GPUs that meet the SLO at the traffic ("recommend")
    CostPerToken, // the lowest price per million output tokens
};
std::string to_string(SearchObjective objective);
SearchObjective parse_search_objective(const std::string& text); // "goodput", "gpus", "cost"

struct SearchSpace {
    int max_gpus = 0; // the budget (0: every GPU of the machines)
    double max_usd_per_hour = 0; // a money budget too (0: none)
    std::vector<int> max_seqs = {64, 128, 256}; // scheduler limits tried per layout
    std::int64_t max_batched_tokens = 8192;
    int layouts_per_size = 3; // the fastest single-replica layouts kept per GPU count
    GpuPrices prices;
    DType dtype = DType::BF16, kv_dtype = DType::BF16;
    // Also prefill and decode pools of their own (the fastest layout of each GPU count, pool
    // sizes within a factor of two of each other, pool ratios 1:1, 1:2, 2:1, 1:3 and 3:1),
    // each pool on any of the machines.
    bool disaggregated = true;
    bool prefix_caching = true;
};

struct SearchProgress {
    int done = 0, total = 0; // simulations
    std::string current; // "TP4 x 3, max 128 sequences"
};

struct SearchResult {
    std::vector<DeploymentOption> options; // ranked by the objective
    int simulated = 0;
    std::string step_source; // what the step times are predicted from
    std::vector<std::string> skipped; // layouts left out, and why
};

// The machine one replica of `gpus` GPUs runs on: part of a node, or whole nodes of it.
Topology replica_topology(const Topology& topology, int gpus);

// Searches, on each machine, GPU counts (powers of two up to the budget) x the fastest
// single-replica layouts of each x scheduler limits x replicas (doubled until the SLO is met
// or the budget spent), and disaggregated pools with each pool on any machine, simulating
// `requests` on each. The GPU budget counts every machine's GPUs together; the money budget
// prices them by kind. `cancel`: stop between simulations (throws Error).
SearchResult search_deployments(const ModelSpec& model, const std::vector<Machine>& machines,
                                const std::vector<Request>& requests, const Slo& slo, const SearchSpace& space,
                                SearchObjective objective,
                                const std::function<void(const SearchProgress&)>& progress = {},
                                const std::atomic<bool>* cancel = nullptr);
// The same on the nodes of one topology.
SearchResult search_deployments(const ModelSpec& model, const Topology& topology, const std::vector<Request>& requests,
                                const Slo& slo, const SearchSpace& space, SearchObjective objective,
                                const Efficiency& efficiency = {},
                                const std::function<void(const SearchProgress&)>& progress = {},
                                const std::atomic<bool>* cancel = nullptr);

} // namespace shard::serving
