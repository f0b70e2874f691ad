#pragma once

// What the CUDA engine can run, decided from the plan alone: built everywhere (no CUDA
// needed), so the CLI and the studio explain a refusal before they launch shard-engine.
#include "core/model_spec.h"
#include "core/strategy.h"
#include "core/workload.h"
#include "cost/shard_geometry.h"

#include <string>

namespace shard::cuda {

// Most experts one token is routed to (the routing kernel keeps them in registers).
inline constexpr int kEngineMaxTopK = 8;

// Why the CUDA engine cannot run this model with this strategy, or empty.
std::string gpu_unsupported_reason(const ModelSpec& model, const Strategy& strategy);
// The plan's shard geometry, once the engine can run it; an Error with the reason if not.
ShardGeometry runnable_geometry(const ModelSpec& model, const Strategy& strategy, const Workload& workload);
// An Error unless `needed` GPUs are visible (the emulated backend needs one).
void require_local_gpus(int needed, int visible);

} // namespace shard::cuda
