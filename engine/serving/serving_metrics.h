#pragma once

#include "replica_sim.h"

#include <string>
#include <vector>

namespace shard::serving {

// The service levels a deployment must meet, at a percentile of the requests (0: none).
struct Slo {
    double percentile = 90; // of the requests, for every limit below
    double ttft_ms = 0;
    double tpot_ms = 0;
    double e2e_ms = 0;
    void validate() const;
};

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, mean = 0;
    double at_slo = 0; // at the SLO's percentile
};

// One simulated deployment's figures: all simulated on the cost model's step times.
struct ServingSummary {
    int requests = 0, rejected = 0;
    double span_s = 0; // first arrival to last finish
    Percentiles ttft_ms, tpot_ms, e2e_ms;
    double requests_per_s = 0;
    double output_tokens_per_s = 0; // over the span
    double goodput_per_s = 0; // requests per second meeting every SLO limit
    double slo_attainment = 0; // share of the requests meeting every limit
    bool meets_slo = false; // each limit met at the SLO's percentile
    double tokens_per_s_per_user = 0; // 1000 / mean TPOT
    std::int64_t preemptions = 0;
    double peak_kv_share = 0; // of the replica's KV blocks
    // Of the prompt tokens admitted (recomputations included), the share read from the
    // prefix cache rather than computed.
    double prefix_hit_share = 0;
    double mean_in_system = 0;
    std::vector<std::string> failing; // which limits the percentile misses, in words
};

// Linear interpolation between order statistics (numpy's default).
double percentile(std::vector<double> values, double p);
ServingSummary summarize(const ReplicaRun& run, const Slo& slo, std::int64_t kv_blocks);

} // namespace shard::serving
