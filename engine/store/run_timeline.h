#pragma once

#include "run_store.h"

#include "core/step_timeline.h"

#include <optional>

namespace shard {

// The forward steps a run stored measurements for, ascending (0 is the prefill).
std::vector<int> stored_steps(RunStore& store, std::int64_t run);

// The step a timeline shows by default: the last decode step (warm caches, steady state), or
// the prefill; nullopt when the run stored no measurements.
std::optional<int> representative_step(RunStore& store, std::int64_t run, bool decode);

// What each rank of a run did in one step, from the stored op and collective rows. Spans sit
// at their measured start times when every row has one and no collective time was modeled;
// otherwise (emulated ranks, older runs) each rank's spans are laid end to end in the order
// they ran, and the caption says so.
StepTimeline measured_timeline(RunStore& store, std::int64_t run, int step);

} // namespace shard
