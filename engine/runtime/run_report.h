#pragma once

#include "cpu_executor.h"

#include "cost/estimate.h"
#include "core/json_util.h"

#include <string>
#include <vector>

namespace shard::cpu {

// What a finished run measured, set against the reference forward and the planner.
struct RunCheck {
    double max_relative_error = 0; // final hidden states vs the unsharded forward
    bool tokens_match = true;      // greedy tokens identical at every step
    std::vector<std::string> traffic_differences; // empty: every collective byte-exact
    std::vector<double> step_ms;   // wall time of each step (slowest rank)
};

RunCheck check_run(const CpuRunResult& run, const std::vector<StepOutput>& reference, const Estimate& fp32_estimate,
                   int pipeline_stages);

// The event protocol of DESIGN.md section 4: JSON Lines with "v": 1 and "event".
OrderedJson start_event(const Plan& plan, const std::string& backend, int steps);
OrderedJson progress_event(int step, int total);
OrderedJson op_event(int rank, const OpRecord& op);
OrderedJson collective_event(int rank, const CollectiveRecord& record);
std::vector<OrderedJson> op_events(const CpuRunResult& run);
std::vector<OrderedJson> collective_events(const CpuRunResult& run);
OrderedJson result_event(const Plan& plan, const std::string& backend, const CpuRunResult& run, const RunCheck& check,
                         const Estimate& predicted);
OrderedJson error_event(const std::string& message, const std::string& status = "failed");

// Per-rank timeline of ops and collectives as Chrome trace JSON (Perfetto, chrome://tracing).
OrderedJson chrome_trace(const CpuRunResult& run, const std::string& title);

} // namespace shard::cpu
