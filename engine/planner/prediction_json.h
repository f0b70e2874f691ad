#pragma once

#include "cost/estimate.h"

#include "core/json_util.h"

namespace shard {

// The planner's prediction for one strategy in the JSON shape the CLI prints with --json
// and plans store under "prediction". Every time is predicted, in milliseconds or
// microseconds as the key says; every size in bytes.
OrderedJson prediction_to_json(const Strategy& strategy, const Estimate& estimate, bool with_blocks = false);
OrderedJson memory_to_json(const MemoryBreakdown& memory);
OrderedJson block_to_json(const BlockCost& block);

} // namespace shard
