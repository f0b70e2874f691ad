#include "deployment.h"

#include "core/error.h"

#include <algorithm>

namespace shard::serving {

DeploymentRun simulate_deployment(const std::vector<Request>& requests, int replicas, const SchedulerLimits& limits,
                                  const StepTimeModel& step_time, std::optional<int> users)
{
    if (replicas < 1)
        throw Error("a deployment needs at least one replica, got " + std::to_string(replicas));
    if (users && *users < replicas)
        throw Error(std::to_string(*users) + " users cannot keep " + std::to_string(replicas) + " replicas busy");
    const auto count = std::size_t(replicas);
    std::vector<std::vector<Request>> shares(count);
    std::vector<std::vector<std::size_t>> where(count);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        shares[i % count].push_back(requests[i]);
        where[i % count].push_back(i);
    }
    DeploymentRun run;
    run.merged.requests.resize(requests.size());
    double first = requests.empty() ? 0 : requests.front().arrival_s, area = 0;
    for (int r = 0; r < replicas; ++r) {
        std::optional<int> share_users;
        if (users)
            share_users = *users / replicas + (r < *users % replicas ? 1 : 0);
        ReplicaRun one = simulate_replica(shares[std::size_t(r)], limits, step_time, share_users);
        for (std::size_t k = 0; k < one.requests.size(); ++k)
            run.merged.requests[where[std::size_t(r)][k]] = one.requests[k];
        run.merged.end_s = std::max(run.merged.end_s, one.end_s);
        run.merged.preemptions += one.preemptions;
        run.merged.prefill_tokens += one.prefill_tokens;
        run.merged.generated_tokens += one.generated_tokens;
        run.merged.peak_kv_blocks = std::max(run.merged.peak_kv_blocks, one.peak_kv_blocks);
        if (!one.requests.empty())
            area += one.mean_in_system * (one.end_s - one.requests.front().arrival_s);
        run.replicas.push_back(std::move(one));
    }
    run.merged.steps = run.replicas.front().steps;
    const double span = run.merged.end_s - first;
    run.merged.mean_in_system = span > 0 ? area / span : 0;
    return run;
}

double usd_per_million_tokens(double usd_per_gpu_hour, int gpus, double output_tokens_per_s)
{
    if (output_tokens_per_s <= 0)
        return 0;
    return usd_per_gpu_hour * gpus / (output_tokens_per_s * 3600.0) * 1e6;
}

} // namespace shard::serving
