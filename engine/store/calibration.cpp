#include "calibration.h"

#include "kind_comparison.h"

#include "core/gpu_catalog.h"
#include "core/plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

namespace shard {

namespace {

std::string catalog_name(const std::string& name)
{
    const auto entry = find_gpu_kind(name);
    return entry ? entry->gpu.name : name;
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct RunKind {
    double measured_ms = 0;
    double predicted_ms = 0;
};

// The GPU a run ran on: the first device name its environment lists, or empty.
std::string run_gpu(const std::string& gpus_json)
{
    try {
        const Json gpus = Json::parse(gpus_json);
        if (gpus.is_array() && !gpus.empty() && gpus.front().is_string())
            return gpus.front().get<std::string>();
    } catch (const Json::exception&) {
    }
    return {};
}

KindFit fit_kind(const std::string& kind, bool collective, const std::vector<RunKind>& runs)
{
    KindFit fit;
    fit.kind = kind;
    fit.collective = collective;
    fit.runs = int(runs.size());
    double log_sum = 0;
    fit.ratio_low = INFINITY;
    fit.ratio_high = 0;
    for (const RunKind& r : runs) {
        const double ratio = r.measured_ms / r.predicted_ms;
        log_sum += std::log(ratio);
        fit.ratio_low = std::min(fit.ratio_low, ratio);
        fit.ratio_high = std::max(fit.ratio_high, ratio);
    }
    fit.scale = std::exp(log_sum / double(runs.size()));
    fit.held_out = runs.size() > 1;
    std::vector<double> before, after;
    for (const RunKind& r : runs) {
        before.push_back(std::abs(r.predicted_ms - r.measured_ms) / r.measured_ms);
        const double others =
            fit.held_out ? std::exp((log_sum - std::log(r.measured_ms / r.predicted_ms)) / double(runs.size() - 1))
                         : fit.scale;
        after.push_back(std::abs(r.predicted_ms * others - r.measured_ms) / r.measured_ms);
    }
    fit.median_error_before = median(before);
    fit.median_error_after = median(after);
    return fit;
}

} // namespace

std::map<std::string, double> GpuFit::scales() const
{
    std::map<std::string, double> out;
    for (const KindFit& k : kinds)
        out[k.kind] = k.scale;
    return out;
}

const GpuFit* Calibration::find(const std::string& gpu) const
{
    const std::string name = catalog_name(gpu);
    for (const GpuFit& g : gpus)
        if (g.gpu == name)
            return &g;
    return nullptr;
}

Calibration fit_calibration(RunStore& store)
{
    Calibration out;
    // gpu -> kind -> (collective, per-run figures)
    std::map<std::string, std::map<std::string, std::pair<bool, std::vector<RunKind>>>> figures;
    std::map<std::string, std::vector<std::int64_t>> runs_of;
    Statement s = store.db().prepare("SELECT runs.id, runs.backend, runs.gpus, plans.json FROM runs JOIN plans ON "
                                     "plans.hash = runs.plan_hash WHERE runs.status = 'completed' ORDER BY runs.id");
    while (s.step()) {
        const std::int64_t id = s.int64(0);
        const std::string backend = s.text(1);
        const std::string tag = "#" + std::to_string(id) + ": ";
        if (backend == "simulator") {
            out.skipped.push_back(tag + "a serving simulation, nothing measured");
            continue;
        }
        if (backend.rfind("cuda", 0) != 0) {
            out.skipped.push_back(tag + backend + " backend, its times are not a GPU's");
            continue;
        }
        std::string gpu;
        try {
            gpu = catalog_name(plan_from_text(s.text(3), "run " + tag).topology.gpu.name);
        } catch (const Error&) {
            out.skipped.push_back(tag + "its stored plan cannot be read");
            continue;
        }
        const std::string ran_on = run_gpu(s.is_null(2) ? std::string("[]") : s.text(2));
        if (!ran_on.empty() && catalog_name(ran_on) != gpu) {
            out.skipped.push_back(tag + "ran on " + ran_on + ", its plan predicts for " + gpu);
            continue;
        }
        bool any = false;
        for (const KindComparison& k : compare_decode_by_kind(store, id)) {
            if (k.modeled || !k.predicted_ms || *k.predicted_ms <= 0 || k.measured_ms <= 0)
                continue;
            auto& entry = figures[gpu][k.kind];
            entry.first = k.collective;
            entry.second.push_back({k.measured_ms, *k.predicted_ms});
            any = true;
        }
        if (any)
            runs_of[gpu].push_back(id);
        else
            out.skipped.push_back(tag + "no decode op with both a measured and a predicted time");
    }
    for (const auto& [gpu, kinds] : figures) {
        GpuFit fit;
        fit.gpu = gpu;
        fit.runs = runs_of[gpu];
        for (const auto& [kind, entry] : kinds)
            fit.kinds.push_back(fit_kind(kind, entry.first, entry.second));
        out.gpus.push_back(std::move(fit));
    }
    return out;
}

std::vector<KindComparison> compare_with_calibration(RunStore& store, std::int64_t run, const Calibration& fit)
{
    std::vector<KindComparison> kinds = compare_decode_by_kind(store, run);
    const auto text = store.plan_json(run);
    if (!text || fit.gpus.empty())
        return kinds;
    const GpuFit* gpu = nullptr;
    try {
        gpu = fit.find(plan_from_text(*text, "run #" + std::to_string(run)).topology.gpu.name);
    } catch (const Error&) {
        return kinds;
    }
    if (!gpu)
        return kinds;
    for (KindComparison& k : kinds) {
        if (!k.predicted_ms)
            continue;
        for (const KindFit& f : gpu->kinds)
            if (f.kind == k.kind) {
                k.band_low_ms = *k.predicted_ms * f.ratio_low;
                k.band_high_ms = *k.predicted_ms * f.ratio_high;
                k.calibrated_ms = *k.predicted_ms * f.scale;
                k.band_runs = f.runs;
            }
    }
    return kinds;
}

Efficiency calibrated_efficiency(const GpuKind& gpu, const std::string& store_path)
{
    Efficiency efficiency;
    std::error_code error;
    if (store_path.empty() || !std::filesystem::exists(store_path, error))
        return efficiency;
    // The studio replans on every edit: refit only when the runs that count have changed
    // (one cheap query), not by re-pricing every stored plan each time.
    static std::mutex mutex;
    static std::map<std::string, std::pair<std::string, Calibration>> fitted; // path -> (runs key, fit)
    try {
        RunStore store(store_path, SqliteDb::Mode::ReadOnly);
        Statement s = store.db().prepare("SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM runs "
                                         "WHERE status = 'completed' AND backend LIKE 'cuda%'");
        s.step();
        const std::string key =
            std::to_string(s.int64(0)) + ":" + std::to_string(s.int64(1)) + ":" + std::to_string(s.int64(2));
        const std::lock_guard lock(mutex);
        auto& slot = fitted[store_path];
        if (slot.first != key)
            slot = {key, fit_calibration(store)};
        if (const GpuFit* kind = slot.second.find(gpu.name))
            efficiency.calibration = kind->scales();
    } catch (const Error&) {
        // A database this build cannot read predicts as if there were no history.
    }
    return efficiency;
}

} // namespace shard
