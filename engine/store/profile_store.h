#pragma once

#include "run_store.h"

#include "cost/machine_profile.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shard {

// Profiles of this machine's GPUs in the run database, beside the runs.

// Stores `profile` (its tables checked first: a malformed one is refused, naming the family
// and line, and nothing is written); returns its id.
std::int64_t add_profile(RunStore& store, const MachineProfile& profile);
// Newest first, without their tables.
std::vector<MachineProfile> list_profiles(RunStore& store);
// One profile with its tables, or nullopt.
std::optional<MachineProfile> get_profile(RunStore& store, std::int64_t id);
// The newest profile of a GPU kind measured on real GPUs (host-model profiles never count),
// with its tables, or nullopt.
std::optional<MachineProfile> latest_profile(RunStore& store, const std::string& gpu_kind);
bool remove_profile(RunStore& store, std::int64_t id);

} // namespace shard
