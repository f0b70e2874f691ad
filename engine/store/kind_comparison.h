#pragma once

#include "run_store.h"

#include <string>
#include <vector>

namespace shard {

// One op kind or collective kind of a stored run: the ms one rank spends on it in one decode
// step, as the run measured it and as the planner predicts it for the plan's GPUs. A run on
// the CPU backend and its GPU prediction sit orders of magnitude apart; callers show them on
// a log scale or as shares of the step, never on one linear axis.
struct KindComparison {
    std::string kind; // the planner's op kind ("attention"...) or collective kind ("AllReduce"...)
    bool collective = false;
    bool modeled = false; // a collective timed by the cost model (emulated ranks), not measured
    double measured_ms = 0;
    std::optional<double> predicted_ms; // none when the run stored no plan
    // The range completed CUDA runs of the plan's GPU kind measured around such a prediction
    // (predicted x their smallest and largest measured / predicted) and the correction the
    // planner applies; none without such runs (calibration.h).
    std::optional<double> band_low_ms, band_high_ms, calibrated_ms;
    int band_runs = 0;
};

// Ops from the run's own rows (their predicted_us, as the run recorded them); collectives
// measured from the run's rows and predicted from the stored plan's decode step by this
// build's cost model (the events carry no collective time prediction), so both halves of a
// tensor-parallel step are on the chart. Ops first, then collectives, each by name.
std::vector<KindComparison> compare_decode_by_kind(RunStore& store, std::int64_t run);

// Each kind's share of the run's decode step, measured and predicted: a shape that compares
// across machines of any speed. Shares sum to 1 over the kinds that have a figure.
struct KindShares {
    std::vector<double> measured, predicted; // by index into the comparison; 0 where absent
};
KindShares decode_shares(const std::vector<KindComparison>& kinds);

} // namespace shard
