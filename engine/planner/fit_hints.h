#pragma once

#include "planner.h"

#include <string>
#include <vector>

namespace shard {

// One change to the inputs under which some layout fits, when none does as given.
struct FitHint {
    std::string change; // "fp8 weights and KV cache", "batch 4", "2 nodes (16 GPUs)"...
    int feasible = 0; // layouts that fit with it
};

// What would make it fit: each single change tried in turn (fp8 weights and KV cache, an
// fp8 KV cache alone, a smaller batch, a shorter context, twice the nodes) and kept when it
// leaves at least one feasible layout. Empty when nothing tried helps.
std::vector<FitHint> fit_hints(const ModelSpec& model, const Topology& topology, const Workload& workload,
                               const PlannerOptions& options = {});

// The hints as one clause: "it would fit with fp8 weights and KV cache (12 layouts); or with ...".
std::string describe_fit_hints(const std::vector<FitHint>& hints);

} // namespace shard
