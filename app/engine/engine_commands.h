#pragma once

#include "cuda/gpu_executor.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

namespace shard::engine {

struct RunArgs {
    std::string file, backend = "cuda", dtype = "bf16", overlap = "off", graphs = "on", threads = "per-gpu", weights;
    int steps = -1;
    std::uint64_t seed = 42;
    bool processes = false; // one MPI process per GPU (shard-engine-mpi)
};

// Runs the plan (or this process's part of it); returns the whole run where this process
// reports it, nothing elsewhere.
using GpuRunner =
    std::function<std::optional<cuda::GpuRunResult>(const Plan&, const run::ModelWeights&, const cuda::GpuRunOptions&)>;

void register_commands(CLI::App& app, int& exit_code);
// The options of `run` every launcher shares: FILE, --dtype, --graphs, --overlap, --steps,
// --seed, --weights.
void add_run_options(CLI::App* run, RunArgs& args);
// `run`: checks the plan, emits the start event, runs it with `runner`, checks and emits the
// result; only where `report` (one process of an MPI job) does it print anything. The exit
// code: 0, 4 (a check failed), 130 (cancelled).
int run_plan_with(const RunArgs& args, const GpuRunner& runner, bool report);
// SIGINT / SIGTERM ask the run to stop at the next step.
void install_signal_handlers();
bool cancel_requested();
// {"v":1,"event":"error","message":...}
std::string error_line(const std::string& message);

} // namespace shard::engine
