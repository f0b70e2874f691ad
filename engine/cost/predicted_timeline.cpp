#include "predicted_timeline.h"

#include <algorithm>
#include <cmath>

namespace shard {

namespace {

// One microbatch's work on one stage, in order, with times relative to its start.
struct Item {
    std::string name;
    std::string kind;
    SpanCategory category;
    int layer;
    double us;
    Provenance source;
};

void append_block(std::vector<Item>& items, const BlockCost& block, int layer)
{
    // Collectives go where the recipe wrote them: after `after_ops` of the block's ops.
    std::size_t next = 0;
    auto flush_collectives = [&](std::size_t ops_done) {
        while (next < block.collectives.size() && std::size_t(block.collectives[next].after_ops) <= ops_done) {
            const CollectiveCost& c = block.collectives[next++];
            items.push_back({to_string(c.op) + " " + c.name, to_string(c.op), SpanCategory::Communication, layer,
                             c.time_us, c.source});
        }
    };
    for (std::size_t i = 0; i < block.ops.size(); ++i) {
        flush_collectives(i);
        const OpCost& op = block.ops[i];
        items.push_back({op.name, to_string(op.kind), SpanCategory::Compute, layer, op.time_us, op.source});
    }
    flush_collectives(block.ops.size());
    flush_collectives(std::size_t(-1));
}

std::vector<Item> stage_items(const PhaseCost& phase, const StageCost& stage, const ModelSpec& model)
{
    static const BlockCost empty;
    auto block = [&](const char* name) {
        const BlockCost* b = phase.block(name);
        return b ? b : &empty;
    };
    std::vector<Item> items;
    if (stage.embedding)
        append_block(items, *block("embedding"), -1);
    for (int l = stage.first_layer; l < stage.first_layer + stage.dense_layers + stage.moe_layers; ++l)
        append_block(items, *block(model.is_moe_layer(l) ? "moe layer" : "dense layer"), l);
    if (stage.lm_head)
        append_block(items, *block("lm head"), -1);
    return items;
}

} // namespace

std::string gpu_ranges(std::vector<int> gpus)
{
    std::sort(gpus.begin(), gpus.end());
    gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
    std::string text;
    for (std::size_t i = 0; i < gpus.size();) {
        std::size_t j = i;
        while (j + 1 < gpus.size() && gpus[j + 1] == gpus[j] + 1)
            ++j;
        text += (text.empty() ? "" : ", ") + std::to_string(gpus[i]);
        if (j > i)
            text += "-" + std::to_string(gpus[j]);
        i = j + 1;
    }
    return text;
}

StepTimeline predicted_timeline(const Estimate& estimate, const ModelSpec& model, const Strategy& strategy, bool decode)
{
    const PhaseCost& phase = decode ? estimate.decode : estimate.prefill;
    StepTimeline timeline;
    timeline.decode = decode;
    timeline.period_us = phase.time_ms * 1000.0;
    const int stages = int(phase.stages.size());
    if (stages == 0)
        return timeline;
    const int stage_size = strategy.devices() / std::max(1, stages);
    for (int s = 0; s < stages; ++s) {
        std::vector<int> gpus;
        for (int p = s * stage_size; p < (s + 1) * stage_size; ++p)
            gpus.push_back(strategy.gpu_of(p));
        const std::string devices = (gpus.size() == 1 ? "GPU " : "GPUs ") + gpu_ranges(gpus);
        timeline.rows.push_back(stages > 1        ? "stage " + std::to_string(s) + " · " + devices
                                : gpus.size() > 1 ? "all " + std::to_string(gpus.size()) + " " + devices
                                                  : devices);
    }

    const BlockCost* handoff_block = phase.block("stage handoff");
    const double handoff_us = handoff_block ? handoff_block->comm_us() : 0.0;
    const std::string handoff_source = handoff_block && !handoff_block->collectives.empty()
                                           ? to_string(handoff_block->collectives.front().source)
                                           : to_string(Provenance::Roofline);
    const int microbatches = std::max(1, phase.microbatches);
    // Flow shop: stage s starts microbatch m once it finished m - 1 and m's activations
    // arrived from stage s - 1. The hand-off is drawn on the receiving stage; NCCL receives
    // asynchronously, so it does not hold the stage's compute.
    std::vector<double> stage_free(std::size_t(stages), 0.0);
    for (int m = 0; m < microbatches; ++m) {
        double arrive = 0;
        for (int s = 0; s < stages; ++s) {
            if (s > 0 && handoff_us > 0)
                timeline.spans.push_back({s, arrive - handoff_us, handoff_us, "recv activations", "send_recv",
                                          SpanCategory::StageHandoff, -1, m, false, handoff_source});
            double at = std::max(stage_free[std::size_t(s)], arrive);
            for (const Item& item : stage_items(phase, phase.stages[std::size_t(s)], model)) {
                timeline.spans.push_back({s, at, item.us, item.name, item.kind, item.category, item.layer, m, false,
                                          to_string(item.source)});
                at += item.us;
            }
            stage_free[std::size_t(s)] = at;
            arrive = at + handoff_us;
        }
    }

    if (decode && stages > 1 && timeline.period_us > 0) {
        // Steady state: the next token of a microbatch enters stage 0 while later stages
        // still work on this one; folding modulo the period shows what each stage does in
        // one time-per-output-token.
        const double period = timeline.period_us;
        std::vector<TimelineSpan> folded;
        for (TimelineSpan span : timeline.spans) {
            span.start_us -= period * std::floor(span.start_us / period);
            if (span.end_us() > period * (1 + 1e-12)) {
                TimelineSpan tail = span;
                tail.start_us = 0;
                tail.duration_us = span.end_us() - period;
                span.duration_us = period - span.start_us;
                folded.push_back(tail);
            }
            folded.push_back(span);
        }
        timeline.spans = std::move(folded);
        timeline.placement = "one period of the steady state: " + std::to_string(microbatches)
                             + " microbatches in flight, idle time is the pipeline bubble";
    } else if (stages > 1) {
        timeline.placement = std::to_string(microbatches) + " microbatches through " + std::to_string(stages)
                             + " stages from an empty pipeline";
    } else {
        timeline.placement = "ops and collectives in issue order";
    }
    return timeline;
}

} // namespace shard
