#pragma once

#include "deployment_option.h"
#include "replica_sim.h"
#include "traffic.h"

#include "core/plan.h"

#include <string>
#include <vector>

namespace shard::serving {

// How to start a chosen deployment on a serving engine and replay the traffic it was
// simulated under against it, so the prediction can be checked.
struct LaunchCommands {
    std::string engine; // "vllm", "sglang", "trtllm"
    std::string serve; // one replica's server, its scheduler limits included
    std::string benchmark; // the engine's own client, sending traffic of the same shape
    // AIPerf replaying the simulated requests themselves (arrival times, lengths, shared
    // prefixes) from the trace file written for it; empty without one.
    std::string replay;
    std::vector<std::string> notes; // what the commands do not reproduce, plainly
    // The server, the benchmark, the replay and the notes, as a user copies them.
    std::string text() const;
};

// `replica`: one replica's plan (its model, machine, layout; prompt + generate is the
// longest context). `traffic`: what was simulated (a trace: `trace` names it).
// `replay_file`: where the simulated requests were written as a Mooncake trace
// (write_mooncake_trace), for the exact replay.
std::vector<LaunchCommands> launch_commands(const Plan& replica, int replicas, const SchedulerLimits& limits,
                                            const TrafficSpec& traffic, const std::string& trace = {},
                                            const std::string& replay_file = {});

// A disaggregated deployment: each engine's prefill and decode servers (its flags for the
// role and the KV transfer) and what routes between them, one command per line of `serve`.
std::vector<LaunchCommands> disaggregated_launch_commands(const Plan& prefill, int prefill_replicas, const Plan& decode,
                                                          int decode_replicas, const SchedulerLimits& limits,
                                                          const TrafficSpec& traffic, const std::string& trace = {},
                                                          const std::string& replay_file = {});

// The launch commands of a deployment of `model` at `base`'s dtypes, each pool on its own
// machine, every server sized for the longest of `requests` (the traffic simulated, as
// `traffic` describes it; `trace` and `replay_file` as for launch_commands).
std::vector<LaunchCommands> deployment_launch_commands(const ModelSpec& model, const Workload& base,
                                                       const DeploymentOption& option,
                                                       const std::vector<Request>& requests, const TrafficSpec& traffic,
                                                       const std::string& trace = {},
                                                       const std::string& replay_file = {});

} // namespace shard::serving
