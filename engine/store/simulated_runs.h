#pragma once

#include "run_store.h"

#include <cstdint>
#include <optional>
#include <string>

namespace shard {

// A serving simulation kept beside the measured runs: history lists it as kind "simulated",
// its ttft_ms / tpot_ms / tokens_per_s are the simulation's means, and the whole result
// (percentiles, goodput, the traffic, the deployment) is kept as JSON.
struct SimulatedRun {
    std::string plan_json; // one replica's plan
    std::string plan_name, model, topology;
    std::string deployment; // "4 x TP2"
    double ttft_ms = 0, tpot_ms = 0, output_tokens_per_s = 0;
    std::string message; // one line for the history
    Json result; // the simulation's figures
};

std::int64_t add_simulated_run(RunStore& store, const SimulatedRun& run);
// The stored figures of a simulated run, or nullopt (not one, or no such run).
std::optional<Json> simulated_result(RunStore& store, std::int64_t id);

} // namespace shard
