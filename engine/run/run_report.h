#pragma once

#include "events.h"
#include "run_result.h"

#include "core/json_util.h"
#include "core/plan.h"
#include "cost/estimate.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shard::run {

// What a finished run measured, set against the reference forward and the planner.
struct RunCheck {
    double max_relative_error = 0; // final hidden states vs the unsharded forward
    bool tokens_match = true; // greedy tokens identical at every step
    std::vector<std::string> traffic_differences; // empty: every collective byte-exact
    std::vector<double> step_ms; // wall time of each step (slowest rank)
};

// ||got - want|| / ||want|| over one step's final hidden states (||got - want|| when want is
// all zero). Infinity when either side holds a NaN or an infinity: a run that produced them
// must fail its check, never pass it with an error of 0.
double relative_error(const std::vector<float>& got, const std::vector<float>& want);

RunCheck check_run(const RunResult& run, const std::vector<StepOutput>& reference, const Estimate& fp32_estimate,
                   int pipeline_stages);

// A run's events (events.h) from what the backend and the planner know.
StartEvent start_event(const Plan& plan, const std::string& backend, int steps);
// Looks up what the planner predicted for a measured op or collective of one rank, so every
// stored measurement sits next to its prediction.
class PredictionIndex {
public:
    // `predicted` prices the plan's GPUs and dtype (for op times); `fp32` the same plan with
    // the CPU's fp32 activations (for bytes).
    PredictionIndex(const ModelSpec& model, const Estimate& predicted, const Estimate& fp32);
    // Per microbatch, the planner's time for the ops the executor timed as one.
    std::optional<double> op_us(const OpRecord& op) const;
    // Per call, what the planner says one rank receives (averaged over rotating roots).
    std::optional<std::int64_t> collective_bytes(const CollectiveRecord& record) const;

private:
    const ModelSpec& m_model;
    const Estimate& m_predicted;
    const Estimate& m_fp32;
};

OpEvent op_event(int rank, const OpRecord& op, std::optional<double> predicted_us = std::nullopt);

// Emits what one rank measured since the last call (ops, then collectives), each next to
// its prediction: rank 0 as every step ends, the other ranks once at the end.
class RankEventStream {
public:
    RankEventStream(int rank, const PredictionIndex& predictions, std::function<void(const Event&)> sink)
        : m_rank(rank)
        , m_predictions(predictions)
        , m_emit(std::move(sink))
    { }
    void flush(const RankLog& log);

private:
    int m_rank;
    const PredictionIndex& m_predictions;
    std::function<void(const Event&)> m_emit;
    std::size_t m_ops = 0;
    std::size_t m_collectives = 0;
};
CollectiveEvent collective_event(int rank, const CollectiveRecord& record,
                                 std::optional<std::int64_t> predicted_bytes = std::nullopt);
ResultEvent result_event(const Plan& plan, const std::string& backend, const RunResult& run, const RunCheck& check,
                         const Estimate& predicted);

// Per-rank timeline of ops and collectives as Chrome trace JSON (Perfetto, chrome://tracing).
OrderedJson chrome_trace(const RunResult& run, const std::string& title);

} // namespace shard::run
