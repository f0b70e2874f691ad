#pragma once

#include "deployment.h"

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
    int max_gpus = 0; // the budget (0: the whole topology)
    std::vector<int> max_seqs = {64, 128, 256}; // scheduler limits tried per layout
    std::int64_t max_batched_tokens = 8192;
    int layouts_per_size = 3; // the fastest single-replica layouts kept per GPU count
    double usd_per_gpu_hour = 0;
    DType dtype = DType::BF16, kv_dtype = DType::BF16;
    // Also prefill and decode pools of their own (the fastest layout of each GPU count, pool
    // sizes within a factor of two of each other, pool ratios 1:1, 1:2, 2:1, 1:3 and 3:1).
    bool disaggregated = true;
    bool prefix_caching = true;
};

struct DeploymentOption {
    Strategy layout; // one replica (disaggregated: of the decode pool)
    int replicas = 0;
    // Disaggregated: the prefill pool's layout and replicas, and the mean KV transfer.
    std::optional<Strategy> prefill_layout;
    int prefill_replicas = 0;
    double kv_transfer_ms = 0;
    int gpus = 0;
    int nodes = 0; // nodes the GPUs fill
    SchedulerLimits limits;
    ServingSummary summary;
    double usd_per_million_tokens = 0;
    bool pareto = false; // on the front of tokens/s per GPU against tokens/s per user
    // "2 x TP4", or "2 x TP2 prefill + 1 x TP4 decode".
    std::string label() const;
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

// Searches GPU counts (powers of two up to the budget) x the fastest single-replica layouts
// of each x scheduler limits x replicas (doubled until the SLO is met or the budget spent),
// simulating `requests` on each. `cancel`: stop between simulations (throws Error).
SearchResult search_deployments(const ModelSpec& model, const Topology& topology, const std::vector<Request>& requests,
                                const Slo& slo, const SearchSpace& space, SearchObjective objective,
                                const Efficiency& efficiency = {},
                                const std::function<void(const SearchProgress&)>& progress = {},
                                const std::atomic<bool>* cancel = nullptr);

} // namespace shard::serving
