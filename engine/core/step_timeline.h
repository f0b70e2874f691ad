#pragma once

#include <string>
#include <vector>

namespace shard {

// What one row of a step timeline spent its time on, for the Gantt chart of one step.
enum class SpanCategory { Compute, Communication, StageHandoff };

struct TimelineSpan {
    int row = 0;
    double start_us = 0; // from the step's start
    double duration_us = 0;
    std::string name; // "qkv_proj", "all_reduce o_proj", "send activations"...
    std::string kind; // the planner's op kind ("attention", "mlp_up"...) or collective kind
    SpanCategory category = SpanCategory::Compute;
    int layer = -1; // -1 for embedding, LM head and hand-offs
    int microbatch = 0;
    bool modeled = false; // a measured timeline's network time taken from the cost model
    std::string source; // a predicted span's: "measured", "interpolated", "extrapolated", "roofline"
    double end_us() const { return start_us + duration_us; }
};

// One step of one phase as a Gantt chart: a row per device (or per group of devices that
// run the same ops on their shards), each a sequence of spans.
struct StepTimeline {
    bool measured = false;
    bool decode = true;
    int step = 0; // measured: the run's step (0 = prefill)
    std::vector<std::string> rows; // "stage 0 · GPUs 0-7", "rank 3"
    std::vector<TimelineSpan> spans;
    double period_us = 0; // the step's time: predicted TPOT / TTFT, or measured wall time
    std::string placement; // how spans were placed, for the chart's caption
    double end_us() const
    {
        double end = 0;
        for (const auto& s : spans)
            end = s.end_us() > end ? s.end_us() : end;
        return end;
    }
    double busy_us(int row) const
    {
        double busy = 0;
        for (const auto& s : spans)
            busy += s.row == row ? s.duration_us : 0.0;
        return busy;
    }
};

} // namespace shard
