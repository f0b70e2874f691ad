#pragma once

#include <CLI/CLI.hpp>

namespace shard::engine {

// `shard-engine profile [--quick]`: measures the local GPUs (cuda/gpu_profile.h) with a
// progress bar and stores the profile in the run database.
void register_profile_command(CLI::App& app, int& exit_code);

} // namespace shard::engine
