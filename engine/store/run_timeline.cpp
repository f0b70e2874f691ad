#include "run_timeline.h"

#include <algorithm>
#include <limits>
#include <map>

namespace shard {

std::vector<int> stored_steps(RunStore& store, std::int64_t run)
{
    Statement s = store.db().prepare("SELECT DISTINCT step FROM op_measurements WHERE run_id = ? UNION "
                                     "SELECT DISTINCT step FROM collective_measurements WHERE run_id = ? ORDER BY 1");
    s.bind(1, run).bind(2, run);
    std::vector<int> steps;
    while (s.step())
        steps.push_back(int(s.int64(0)));
    return steps;
}

std::optional<int> representative_step(RunStore& store, std::int64_t run, bool decode)
{
    const std::vector<int> steps = stored_steps(store, run);
    if (steps.empty())
        return std::nullopt;
    if (!decode)
        return steps.front() == 0 ? std::optional<int>(0) : std::nullopt;
    return steps.back() > 0 ? std::optional<int>(steps.back()) : std::nullopt;
}

StepTimeline measured_timeline(RunStore& store, std::int64_t run, int step)
{
    struct Row {
        TimelineSpan span;
        std::optional<double> start;
        std::int64_t order; // insertion order within its table
    };
    std::map<int, std::vector<Row>> by_rank;
    bool all_started = true;
    bool any_modeled = false;

    Statement ops = store.db().prepare("SELECT rank, layer, op, kind, us, start_us, rowid FROM op_measurements "
                                       "WHERE run_id = ? AND step = ? ORDER BY rowid");
    ops.bind(1, run).bind(2, std::int64_t(step));
    while (ops.step()) {
        Row r;
        r.span.row = int(ops.int64(0));
        r.span.layer = int(ops.int64(1));
        r.span.name = ops.text(2);
        r.span.kind = ops.text(3);
        r.span.duration_us = ops.real(4);
        r.span.category = r.span.kind == "stage_handoff" ? SpanCategory::StageHandoff : SpanCategory::Compute;
        if (!ops.is_null(5))
            r.start = ops.real(5);
        r.order = ops.int64(6);
        all_started = all_started && r.start.has_value();
        by_rank[r.span.row].push_back(std::move(r));
    }
    Statement colls = store.db().prepare("SELECT rank, op, grp, us, start_us, modeled, rowid FROM "
                                         "collective_measurements WHERE run_id = ? AND step = ? ORDER BY rowid");
    colls.bind(1, run).bind(2, std::int64_t(step));
    // Older rows carry no start time: they follow the rank's ops in the order they arrived.
    const std::int64_t after_ops = std::numeric_limits<std::int32_t>::max();
    while (colls.step()) {
        Row r;
        r.span.row = int(colls.int64(0));
        r.span.kind = colls.text(1);
        r.span.name = colls.text(1) + " " + colls.text(2);
        r.span.duration_us = colls.real(3);
        r.span.category = colls.text(2) == "pp" ? SpanCategory::StageHandoff : SpanCategory::Communication;
        if (!colls.is_null(4))
            r.start = colls.real(4);
        r.span.modeled = colls.int64(5) != 0;
        r.order = after_ops + colls.int64(6);
        all_started = all_started && r.start.has_value();
        any_modeled = any_modeled || r.span.modeled;
        by_rank[r.span.row].push_back(std::move(r));
    }

    StepTimeline timeline;
    timeline.measured = true;
    timeline.decode = step > 0;
    timeline.step = step;
    if (by_rank.empty())
        return timeline;
    const bool as_measured = all_started && !any_modeled;
    double origin = std::numeric_limits<double>::max();
    if (as_measured)
        for (const auto& [rank, rows] : by_rank)
            for (const Row& r : rows)
                origin = std::min(origin, *r.start);
    int row_index = 0;
    for (auto& [rank, rows] : by_rank) {
        std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
            if (a.start && b.start && *a.start != *b.start)
                return *a.start < *b.start;
            return a.order < b.order;
        });
        timeline.rows.push_back("rank " + std::to_string(rank));
        double at = 0;
        for (Row& r : rows) {
            r.span.row = row_index;
            r.span.start_us = as_measured ? *r.start - origin : at;
            at = r.span.start_us + r.span.duration_us;
            timeline.spans.push_back(std::move(r.span));
        }
        ++row_index;
    }
    timeline.period_us = timeline.end_us();
    timeline.placement = as_measured ? "start times as measured on each rank"
                         : any_modeled
                             ? "each rank's ops laid end to end; network time modeled (emulated ranks share one GPU)"
                             : "each rank's ops laid end to end (the run stored no start times)";
    return timeline;
}

} // namespace shard
