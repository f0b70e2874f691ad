#pragma once

#include "estimate.h"

#include "core/step_timeline.h"

namespace shard {

// The planner's step as a Gantt chart: one row per pipeline stage (the devices of a stage run
// the same ops on their shards in lockstep), the ops and collectives of each block in the
// order the layer recipe issues them, microbatches scheduled the way the estimate prices
// them. Prefill is the pipeline filled from empty; decode is one period of the steady state
// (spans folded modulo the time per output token), so idle time is the bubble.
StepTimeline predicted_timeline(const Estimate& estimate, const ModelSpec& model, const Strategy& strategy,
                                bool decode);

// "0-7", "0-3, 8-11": GPU indices as ranges.
std::string gpu_ranges(std::vector<int> gpus);

} // namespace shard
