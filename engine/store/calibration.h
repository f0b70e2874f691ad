#pragma once

#include "kind_comparison.h"
#include "run_store.h"

#include "cost/hardware_model.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shard {

// How far the cost model is off on one GPU kind for one timed op group or collective kind,
// from the completed CUDA runs in the store: each run's measured decode ms against the
// uncalibrated prediction, the correction the planner multiplies that kind by (the geometric
// mean of measured / predicted over the runs) and the error it leaves.
struct KindFit {
    std::string kind; // "attention", "mlp", "AllReduce"...
    bool collective = false;
    int runs = 0;
    double scale = 1; // measured / predicted, the correction
    double ratio_low = 1, ratio_high = 1; // the smallest and largest run's measured / predicted
    double median_error_before = 0; // |predicted - measured| / measured, median over runs
    double median_error_after = 0;
    // After: each run predicted with the correction fitted on the other runs (two runs or
    // more); with one run the correction is fitted on it and the error after is in-sample.
    bool held_out = false;
};

struct GpuFit {
    std::string gpu; // the catalog's name
    std::vector<std::int64_t> runs;
    std::vector<KindFit> kinds;
    std::map<std::string, double> scales() const;
};

struct Calibration {
    std::vector<GpuFit> gpus;
    // Runs left out, each with why ("#4: CPU backend, its times are not a GPU's").
    std::vector<std::string> skipped;
    const GpuFit* find(const std::string& gpu) const;
};

// The CPU backend's times are not a GPU's and a run on another GPU kind than its plan
// predicts for says nothing about either: only completed CUDA runs of the plan's GPU kind
// count, and of them only the op rows and the collectives a clock timed (not emulated ranks).
Calibration fit_calibration(RunStore& store);

// compare_decode_by_kind with each predicted kind's error band and corrected time from the
// fit of the run's plan GPU kind.
std::vector<KindComparison> compare_with_calibration(RunStore& store, std::int64_t run, const Calibration& fit);

// The default efficiencies with the corrections `store_path` holds for `gpu`. A missing or
// unreadable database gives none: a prediction never fails for want of history. The fit is
// kept per database until its completed CUDA runs change.
Efficiency calibrated_efficiency(const GpuKind& gpu, const std::string& store_path);

} // namespace shard
