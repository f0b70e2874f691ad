#include "run_report.h"

#include "traffic_check.h"

#include "shard/version.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unistd.h>

namespace shard::run {

double relative_error(const std::vector<float>& got, const std::vector<float>& want)
{
    double diff = 0;
    double norm = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double g = i < got.size() ? double(got[i]) : 0.0;
        if (!std::isfinite(g) || !std::isfinite(want[i]))
            return std::numeric_limits<double>::infinity();
        const double d = g - want[i];
        diff += d * d;
        norm += double(want[i]) * want[i];
    }
    return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

RunCheck check_run(const RunResult& run, const std::vector<StepOutput>& reference, const Estimate& fp32_estimate,
                   int pipeline_stages)
{
    RunCheck check;
    for (std::size_t s = 0; s < run.steps.size() && s < reference.size(); ++s) {
        check.tokens_match = check.tokens_match && run.steps[s].next_tokens == reference[s].next_tokens;
        check.max_relative_error =
            std::max(check.max_relative_error, relative_error(run.steps[s].hidden, reference[s].hidden));
    }
    check.traffic_differences = compare_traffic(fp32_estimate, run, pipeline_stages);
    double previous = 0;
    for (std::size_t s = 0; s < run.steps.size(); ++s) {
        double end = 0;
        for (const auto& log : run.logs)
            if (s < log.step_end_us.size())
                end = std::max(end, log.step_end_us[s]);
        check.step_ms.push_back((end - previous) / 1000.0);
        previous = end;
    }
    return check;
}

namespace {

std::string hostname()
{
    char name[256] = {};
    return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("unknown");
}

} // namespace

StartEvent start_event(const Plan& plan, const std::string& backend, int steps)
{
    StartEvent e;
    e.plan = plan.name;
    e.backend = backend;
    e.model = plan.model.id;
    e.topology = plan.topology.id;
    e.strategy = plan.strategy.label();
    e.ranks = plan.strategy.devices();
    e.steps = steps;
    e.batch = plan.workload.batch;
    e.prompt = plan.workload.prompt;
    e.environment.host = hostname();
    e.environment.engine_version = kVersion;
    e.environment.dtype = "fp32";
    return e;
}

PredictionIndex::PredictionIndex(const ModelSpec& model, const Estimate& predicted, const Estimate& fp32)
    : m_model(model)
    , m_predicted(predicted)
    , m_fp32(fp32)
{ }

std::optional<double> PredictionIndex::op_us(const OpRecord& op) const
{
    const PhaseCost& phase = op.step == 0 ? m_predicted.prefill : m_predicted.decode;
    const char* block_name = op.layer < 0                     ? (op.kind == "embedding" ? "embedding" : "lm head")
                             : m_model.is_moe_layer(op.layer) ? "moe layer"
                                                              : "dense layer";
    const BlockCost* block = phase.block(block_name);
    if (!block)
        return std::nullopt;
    double us = 0;
    bool found = false;
    const std::string group = timed_group(op.kind);
    for (const auto& planned : block->ops) {
        if (timed_group(to_string(planned.kind)) == group && (group != "norm" || planned.name == op.name)) {
            us += planned.time_us;
            found = true;
        }
    }
    return found ? std::optional<double>(us) : std::nullopt;
}

std::optional<std::int64_t> PredictionIndex::collective_bytes(const CollectiveRecord& r) const
{
    if (r.control)
        return std::nullopt;
    const PhaseCost& phase = r.step == 0 ? m_fp32.prefill : m_fp32.decode;
    for (const auto& block : phase.blocks)
        for (const auto& c : block.collectives)
            if (c.op == r.kind && c.payload == r.payload)
                return c.calls > 0 ? c.traffic / c.calls : c.traffic;
    return std::nullopt;
}

OpEvent op_event(int rank, const OpRecord& op, std::optional<double> predicted_us)
{
    OpEvent e;
    e.rank = rank;
    e.step = op.step;
    e.layer = op.layer;
    e.op = op.name;
    e.kind = op.kind;
    e.us = op.us;
    e.start_us = op.start_us;
    e.predicted_us = predicted_us;
    return e;
}

CollectiveEvent collective_event(int rank, const CollectiveRecord& c, std::optional<std::int64_t> predicted_bytes)
{
    CollectiveEvent e;
    e.rank = rank;
    e.step = c.step;
    e.op = to_string(c.kind);
    e.group = c.group;
    e.group_size = c.group_size;
    e.bytes = c.payload;
    e.sent = c.sent;
    e.received = c.received;
    e.us = c.seconds * 1e6;
    e.start_us = c.start_us;
    // nccl-tests: algbw = size / time, busbw = algbw x bus factor (GB/s).
    e.algbw = c.seconds > 0 ? double(c.payload) / c.seconds / 1e9 : 0.0;
    e.busbw = e.algbw * bus_factor(c.kind, c.group_size);
    e.control = c.control;
    e.modeled = c.modeled;
    e.predicted_bytes = predicted_bytes;
    return e;
}

void RankEventStream::flush(const RankLog& log)
{
    for (; m_ops < log.ops.size(); ++m_ops)
        m_emit(op_event(m_rank, log.ops[m_ops], m_predictions.op_us(log.ops[m_ops])));
    for (; m_collectives < log.records.size(); ++m_collectives)
        m_emit(collective_event(m_rank, log.records[m_collectives],
                                m_predictions.collective_bytes(log.records[m_collectives])));
}

ResultEvent result_event(const Plan& plan, const std::string& backend, const RunResult& run, const RunCheck& check,
                         const Estimate& predicted)
{
    ResultEvent e;
    e.backend = backend;
    e.seconds = run.seconds;
    const double ttft = check.step_ms.empty() ? 0.0 : check.step_ms.front();
    double decode = 0;
    for (std::size_t s = 1; s < check.step_ms.size(); ++s)
        decode += check.step_ms[s];
    const double tpot = check.step_ms.size() > 1 ? decode / double(check.step_ms.size() - 1) : 0.0;
    e.ttft_ms = ttft;
    e.tpot_ms = tpot;
    e.tokens_per_s = tpot > 0 ? plan.workload.batch / (tpot / 1000.0) : 0.0;
    e.step_ms = check.step_ms;
    e.predicted_ttft_ms = predicted.ttft_ms;
    e.predicted_tpot_ms = predicted.tpot_ms;
    e.predicted_tokens_per_s = predicted.tokens_per_s;
    e.predicted_gpu = plan.topology.gpu.name;
    e.non_finite = !std::isfinite(check.max_relative_error);
    if (!e.non_finite)
        e.max_rel_error = check.max_relative_error;
    e.tokens_match = check.tokens_match;
    e.traffic_exact = check.traffic_differences.empty();
    e.traffic_differences = check.traffic_differences;
    return e;
}

OrderedJson chrome_trace(const RunResult& run, const std::string& title)
{
    OrderedJson events = OrderedJson::array();
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", title}}}});
    for (std::size_t rank = 0; rank < run.logs.size(); ++rank) {
        events.push_back({{"name", "thread_name"},
                          {"ph", "M"},
                          {"pid", 0},
                          {"tid", rank},
                          {"args", {{"name", "rank " + std::to_string(rank)}}}});
        for (const auto& op : run.logs[rank].ops)
            events.push_back({{"name", op.name},
                              {"cat", "compute," + op.kind},
                              {"ph", "X"},
                              {"pid", 0},
                              {"tid", rank},
                              {"ts", op.start_us},
                              {"dur", op.us},
                              {"args", {{"step", op.step}, {"layer", op.layer}, {"kind", op.kind}}}});
        for (const auto& c : run.logs[rank].records)
            events.push_back({{"name", to_string(c.kind) + " " + c.group},
                              {"cat", "communication"},
                              {"ph", "X"},
                              {"pid", 0},
                              {"tid", rank},
                              {"ts", c.start_us},
                              {"dur", c.seconds * 1e6},
                              {"args",
                               {{"step", c.step},
                                {"bytes", c.payload},
                                {"group_size", c.group_size},
                                {"sent", c.sent},
                                {"received", c.received}}}});
    }
    OrderedJson trace;
    trace["traceEvents"] = events;
    trace["displayTimeUnit"] = "ms";
    return trace;
}

} // namespace shard::run
