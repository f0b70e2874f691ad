#include "kind_comparison.h"

#include "core/plan.h"
#include "cost/collective.h"
#include "cost/estimate.h"
#include "cost/predicted_timeline.h"

#include <algorithm>
#include <map>

namespace shard {

namespace {

// Mean busy ms per timeline row, by span kind: what one device of the plan spends per kind
// in one period of the predicted decode step.
std::map<std::string, double> busy_ms_by_kind(const StepTimeline& timeline)
{
    std::map<std::string, double> out;
    if (timeline.rows.empty())
        return out;
    // A stage hand-off is the point-to-point send the run records as a SendRecv collective.
    const std::string handoff = to_string(CollectiveKind::SendRecv);
    for (const TimelineSpan& span : timeline.spans)
        out[span.category == SpanCategory::StageHandoff ? handoff : span.kind] +=
            span.duration_us / 1000.0 / double(timeline.rows.size());
    return out;
}

std::map<std::string, double> predicted_collectives(RunStore& store, std::int64_t run)
{
    const auto text = store.plan_json(run);
    if (!text)
        return {};
    try {
        const Plan plan = plan_from_text(*text, "run #" + std::to_string(run));
        const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
        if (!e.feasible)
            return {};
        return busy_ms_by_kind(predicted_timeline(e, plan.model, plan.strategy, true));
    } catch (const Error&) {
        return {}; // an older run may have stored its start event instead of the plan
    }
}

} // namespace

std::vector<KindComparison> compare_decode_by_kind(RunStore& store, std::int64_t run)
{
    std::vector<KindComparison> out;
    const auto predicted = predicted_collectives(store, run);
    for (const auto& [kind, time] : store.decode_ms_by_kind(run)) {
        KindComparison k;
        k.kind = kind;
        k.collective = time.collective;
        k.modeled = time.modeled;
        k.measured_ms = time.measured_ms;
        k.predicted_ms = time.predicted_ms;
        if (k.collective)
            if (const auto it = predicted.find(kind); it != predicted.end())
                k.predicted_ms = it->second;
        out.push_back(std::move(k));
    }
    std::stable_partition(out.begin(), out.end(), [](const KindComparison& k) { return !k.collective; });
    return out;
}

KindShares decode_shares(const std::vector<KindComparison>& kinds)
{
    KindShares shares{std::vector<double>(kinds.size(), 0.0), std::vector<double>(kinds.size(), 0.0)};
    double measured = 0, predicted = 0;
    for (const auto& k : kinds) {
        measured += k.measured_ms;
        predicted += k.predicted_ms.value_or(0.0);
    }
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        shares.measured[i] = measured > 0 ? kinds[i].measured_ms / measured : 0.0;
        shares.predicted[i] = predicted > 0 ? kinds[i].predicted_ms.value_or(0.0) / predicted : 0.0;
    }
    return shares;
}

} // namespace shard
