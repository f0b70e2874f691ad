#pragma once

#include "run_result.h"

#include "cost/estimate.h"

#include <string>
#include <vector>

namespace shard::run {

// Compares every rank's collectives, step by step, with the planner's prediction for the
// same plan: the same calls with the same payloads moving the same bytes. AllToAll payloads
// must match too; how they split between peers depends on the routing, so their bytes are
// not compared. Returns one line per difference (empty: byte-exact).
std::vector<std::string> compare_traffic(const Estimate& estimate, const RunResult& run, int pipeline_stages);

} // namespace shard::run
