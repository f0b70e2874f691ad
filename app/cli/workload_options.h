#pragma once

#include "core/presets.h"
#include "core/workload.h"
#include "cost/hardware_model.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace shard::cli {

// The model, topology and workload flags every pricing command takes, with one default each.
struct WorkloadArgs {
    std::string model = PresetLibrary::kDefaultModel;
    std::string topology = PresetLibrary::kDefaultTopology;
    int batch = 8;
    int prompt = 2048;
    int generate = 256;
    std::string dtype = "bf16";
    std::string kv_dtype;
    std::string phase = "both";
    std::string objective = "tpot";
    std::string tables = "auto"; // where kernel times come from (store/prediction_tables.h)

    // The workload the flags describe, validated.
    Workload workload() const;
};

// Registers --model, --topology, --batch, --prompt, --gen, --dtype, --kv-dtype, --phase and
// --objective, and returns them so a caller can tell which the user gave; and --tables.
std::vector<CLI::Option*> add_workload_options(CLI::App& command, WorkloadArgs& args);
// --tables auto|profile|shipped|roofline.
CLI::Option* add_tables_option(CLI::App& command, std::string& tables);

// What the planner prices with on a GPU kind under --tables: by default this machine's
// profile of that kind, else the measured tables with the corrections the run database
// ($XDG_DATA_HOME/shardstudio/runs.db) has fitted for that kind, if any.
Efficiency planner_efficiency(const GpuKind& gpu, const std::string& tables);

} // namespace shard::cli
