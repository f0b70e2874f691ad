#pragma once

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
    std::string benchmark; // the client that sends the same traffic
    std::vector<std::string> notes; // what the commands do not reproduce, plainly
};

// `replica`: one replica's plan (its model, machine, layout; prompt + generate is the
// longest context). `traffic`: what was simulated (a trace: `trace` names it).
std::vector<LaunchCommands> launch_commands(const Plan& replica, int replicas, const SchedulerLimits& limits,
                                            const TrafficSpec& traffic, const std::string& trace = {});

// A disaggregated deployment: each engine's prefill and decode servers (its flags for the
// role and the KV transfer) and what routes between them, one command per line of `serve`.
std::vector<LaunchCommands> disaggregated_launch_commands(const Plan& prefill, int prefill_replicas, const Plan& decode,
                                                          int decode_replicas, const SchedulerLimits& limits,
                                                          const TrafficSpec& traffic);

} // namespace shard::serving
