#pragma once

#include "cuda/gpu_executor.h"
#include "run/run_description.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

namespace shard::engine {

// shard-engine runs the cuda backend unless told otherwise.
inline run::RunRequest cuda_run_request()
{
    run::RunRequest request;
    request.backend = "cuda";
    return request;
}

struct RunArgs {
    std::string file; // a plan
    std::string description; // or the run as shardstudio-cli describes it ("-": standard input)
    run::RunRequest request = cuda_run_request();
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
// The run `run`'s options name: a description from shardstudio-cli as it stands, or the plan
// FILE checked with the options (and against what the engine runs). Refused without a GPU.
run::RunDescription describe(const RunArgs& args);
// `run`: emits the start event, runs the described run with `runner`, checks and emits the
// result; only where `report` (one process of an MPI job) does it print anything;
// `processes`: one process per GPU. The exit code: 0, 4 (a check failed), 130 (cancelled).
int run_plan_with(const run::RunDescription& run, const GpuRunner& runner, bool report, bool processes);
// SIGINT / SIGTERM ask the run to stop at the next step.
void install_signal_handlers();
bool cancel_requested();
// {"v":1,"event":"error","message":...}
std::string error_line(const std::string& message);

} // namespace shard::engine
