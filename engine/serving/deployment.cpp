#include "deployment.h"

#include "core/error.h"

#include <algorithm>
#include <map>

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
    // A cache-aware router with a load bound, as SGLang's: a request of a prefix id goes to
    // the least loaded replica that has served that id, unless it is more than
    // kBalanceSlack requests ahead of the least loaded of all, which then takes it (and from
    // then on serves the id too). Other requests go to the least loaded; without prefix ids
    // that is plain turn-taking. Load is the requests handed out so far.
    constexpr std::size_t kBalanceSlack = 16;
    std::map<std::string, std::vector<std::size_t>> replicas_of_prefix;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        std::size_t to = 0;
        for (std::size_t r = 1; r < count; ++r)
            if (shares[r].size() < shares[to].size())
                to = r;
        if (limits.prefix_caching && !requests[i].prefix.empty()) {
            std::vector<std::size_t>& serving = replicas_of_prefix[requests[i].prefix];
            const auto best = std::min_element(serving.begin(), serving.end(), [&](std::size_t a, std::size_t b) {
                return shares[a].size() < shares[b].size();
            });
            if (best != serving.end() && shares[*best].size() <= shares[to].size() + kBalanceSlack)
                to = *best;
            else
                serving.push_back(to);
        }
        shares[to].push_back(requests[i]);
        where[to].push_back(i);
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
        run.merged.prefix_hit_tokens += one.prefix_hit_tokens;
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

double usd_per_million_tokens(double usd_per_hour, double output_tokens_per_s)
{
    if (output_tokens_per_s <= 0)
        return 0;
    return usd_per_hour / (output_tokens_per_s * 3600.0) * 1e6;
}

} // namespace shard::serving
