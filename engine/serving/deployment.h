#pragma once

#include "replica_sim.h"
#include "serving_metrics.h"

#include <optional>
#include <vector>

namespace shard::serving {

// Replicas of one layout behind a load balancer that hands requests out in turn (and, in a
// closed loop, the users out evenly), keeping the requests of one prefix id on one replica
// when prefix caching is on. Each replica runs its share on its own.
struct DeploymentRun {
    ReplicaRun merged; // every request, in input order; steps of replica 0
    std::vector<ReplicaRun> replicas;
};
DeploymentRun simulate_deployment(const std::vector<Request>& requests, int replicas, const SchedulerLimits& limits,
                                  const StepTimeModel& step_time, std::optional<int> users = std::nullopt);

// Price of a million output tokens from GPUs costing `usd_per_hour` together serving
// `output_tokens_per_s` (0 when nothing is served).
double usd_per_million_tokens(double usd_per_hour, double output_tokens_per_s);

} // namespace shard::serving
