#pragma once

// What every `serve` command shares: its options, the traffic they describe, how its figures
// print as JSON.
#include "commands.h"
#include "workload_options.h"

#include "serving/launch_export.h"
#include "serving/serving_metrics.h"
#include "serving/traffic.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace shard::cli {

// Every `serve` command's options (simulate alone reads the layout, replicas, pool, store and
// launch ones).
struct ServeArgs {
    WorkloadArgs workload; // model, topology, dtypes and --tables
    std::string strategy;
    int replicas = 0; // 0: as many as the topology holds
    double rate = 2;
    int concurrency = 0;
    double burstiness = 1;
    std::string prompt_len = "1024", output_len = "128";
    int requests = 1000;
    std::uint64_t seed = 1;
    std::string trace;
    int shared_prefix = 0, prefix_groups = 1;
    bool no_prefix_caching = false;
    serving::SchedulerLimits limits;
    bool no_chunked_prefill = false;
    serving::Slo slo;
    std::string prices; // per GPU-hour: "2.49" or "h100=2.49,h200=3.79" (serving/gpu_prices.h)
    bool no_store = false;
    std::string db;
    std::string prefill_strategy; // set: disaggregated, --strategy is the decode pool's layout
    int prefill_replicas = 1;
    std::string prefill_topology; // set: the prefill pool's own nodes
    bool launch = false; // print the launch and benchmark commands
    std::string replay_file; // where to write the requests for AIPerf's exact replay
};

// The traffic a command simulates: how it was made, the requests, and the two in words.
struct Traffic {
    serving::TrafficSpec spec;
    std::vector<serving::Request> requests;
    std::string text; // in words
};

// The requests the options describe: generated (seeded) or read from --trace.
Traffic build_traffic(const ServeArgs& a);
OrderedJson percentiles_json(const serving::Percentiles& p);
// Writes the requests to --replay-file as a Mooncake trace; the path written, or empty.
std::string write_replay_file(const ServeArgs& a, const std::vector<serving::Request>& requests);
OrderedJson launch_json(const std::vector<serving::LaunchCommands>& commands);
void print_launch(const std::vector<serving::LaunchCommands>& commands);
// The model, machine, dtype, traffic, scheduler, SLO and price options.
void add_serve_options(CLI::App* command, ServeArgs& a);
// `serve search` and `serve recommend` (serve_search_command.cpp).
void register_serve_search_commands(CLI::App* serve, const GlobalOptions& options);

} // namespace shard::cli
