#pragma once

// What the CUDA engine can run, decided from the plan alone: built everywhere (no CUDA
// needed), so the CLI and the studio explain a refusal before they launch shard-engine.
#include "core/model_spec.h"
#include "core/strategy.h"

#include <string>

namespace shard::cuda {

// Most experts one token is routed to (the routing kernel keeps them in registers).
inline constexpr int kEngineMaxTopK = 8;

// Why the CUDA engine cannot run this model with this strategy, or empty.
std::string gpu_unsupported_reason(const ModelSpec& model, const Strategy& strategy);

} // namespace shard::cuda
