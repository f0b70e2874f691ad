#pragma once

#include "deployment.h"

#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/topology.h"
#include "cost/hardware_model.h"

#include <optional>
#include <string>
#include <vector>

namespace shard::serving {

// Nodes of one GPU kind a deployment may use, and how kernels are priced on them (the
// tables and corrections of that GPU kind).
struct Machine {
    Topology topology;
    Efficiency efficiency;
};

// One deployment: replicas of a layout on one machine, or a prefill and a decode pool, each
// on its own machine (two GPU kinds, or the same nodes), and what it simulated to.
struct DeploymentOption {
    Strategy layout; // one replica (disaggregated: of the decode pool)
    int replicas = 0;
    Topology machine; // where those replicas run
    // Disaggregated: the prefill pool's layout, replicas and machine, and the mean KV transfer.
    std::optional<Strategy> prefill_layout;
    int prefill_replicas = 0;
    Topology prefill_machine;
    double kv_transfer_ms = 0;
    int gpus = 0;
    int nodes = 0; // nodes the GPUs fill
    SchedulerLimits limits;
    ServingSummary summary;
    double usd_per_hour = 0; // every GPU of the deployment, 0 when unpriced
    double usd_per_million_tokens = 0;
    bool pareto = false; // on the front of tokens/s per GPU against tokens/s per user
    // "2 x TP4", or "2 x TP2 prefill + 1 x TP4 decode" (the GPU kinds apart, in gpu_text()).
    std::string label() const;
    // The GPU kinds: "H100 SXM 80GB", or "H100 SXM 80GB prefill, H200 SXM 141GB decode".
    std::string gpu_text() const;
};

// The machine of `machines` that `topology` is (by id and contents); an error naming it when
// it is none of them.
const Machine& machine_of(const std::vector<Machine>& machines, const Topology& topology);

// Nodes `gpus` GPUs fill on `topology` (a node partly used counts whole).
int nodes_for(const Topology& topology, int gpus);

// One deployment simulated again: every request, and replica 0's steps (disaggregated: the
// decode pool's).
struct OptionRun {
    ReplicaRun merged;
    double kv_transfer_ms = 0;
    std::int64_t kv_blocks = 0; // per replica (disaggregated: of the decode pool)
    std::string step_source; // what the step times are predicted from
};

// Simulates `option` on `requests`, with step times predicted on each pool's machine (which
// must be one of `machines`) for contexts up to the longest request. `users`: a closed loop
// of that many users instead of the requests' arrival times (aggregated only).
OptionRun simulate_option(const ModelSpec& model, const std::vector<Machine>& machines, const DeploymentOption& option,
                          const std::vector<Request>& requests, DType dtype, DType kv_dtype,
                          std::optional<int> users = std::nullopt);

} // namespace shard::serving
