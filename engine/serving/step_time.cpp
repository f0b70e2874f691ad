#include "step_time.h"

#include "core/error.h"
#include "cost/estimate.h"

#include <algorithm>
#include <cmath>

namespace shard::serving {

namespace {

// Powers of two from `low` to `high`, `high` itself last.
std::vector<double> octaves(double low, double high)
{
    std::vector<double> v;
    for (double x = low; x < high; x *= 2)
        v.push_back(x);
    v.push_back(high);
    return v;
}

// Where x falls on an ascending axis: the lower sample and the weight of the upper one,
// held at the ends (the cost model prices outside the grid by its nearest edge's slope).
std::pair<std::size_t, double> bracket(const std::vector<double>& axis, double x)
{
    if (axis.size() == 1 || x <= axis.front())
        return {0, axis.size() == 1 ? 0.0 : (x - axis[0]) / (axis[1] - axis[0])};
    std::size_t i = std::size_t(std::upper_bound(axis.begin(), axis.end(), x) - axis.begin());
    i = std::min(i, axis.size() - 1);
    return {i - 1, (x - axis[i - 1]) / (axis[i] - axis[i - 1])};
}

} // namespace

CostModelStepTime::CostModelStepTime(const ModelSpec& model, const Strategy& strategy, const Topology& topology,
                                     DType dtype, DType kv_dtype, int max_seqs, int max_context, int max_batched_tokens,
                                     const Efficiency& efficiency)
{
    if (strategy.dp != 1)
        throw Error("a replica is one data-parallel copy: give its layout with dp=1 and the replicas apart");
    if (max_seqs < 1 || max_context < 2 || max_batched_tokens < 1)
        throw Error("a replica needs at least one sequence, a context of 2 tokens and a step of 1 token");
    Workload w;
    w.dtype = dtype;
    w.kv_dtype = kv_dtype;
    w.phase = Phase::Both;
    auto priced = [&](int batch, int prompt, int generate) {
        w.batch = batch;
        w.prompt = prompt;
        w.generate = generate;
        Estimate e = estimate(model, strategy, topology, w, efficiency);
        if (e.prefill.time_ms <= 0 && !e.reason.empty() && e.decode.time_ms <= 0)
            throw Error(strategy.label() + " cannot run " + model.name + ": " + e.reason);
        return e;
    };
    m_seqs = octaves(1, max_seqs);
    m_contexts = octaves(std::min(128, max_context / 2), max_context - 1);
    m_chunks = octaves(16, std::max(16, std::min(max_context, 16384)));
    // Decode steps: the estimate's decode attends over prompt + generate / 2 tokens.
    for (const double seqs : m_seqs)
        for (const double context : m_contexts)
            m_decode.push_back(priced(int(seqs), int(context), 2).decode.time_ms);
    for (const double chunk : m_chunks)
        m_prefill.push_back(priced(1, int(chunk), 0).prefill.time_ms);
    // The KV cache what is left holds, with the largest step's activations (one sequence of
    // the whole token budget: activations follow the tokens, not how they are split).
    const Estimate sizing = priced(1, std::min(max_context - 1, max_batched_tokens), 1);
    const MemoryBreakdown& mem = sizing.memory;
    const std::int64_t other = mem.total() - mem.kv_cache;
    if (sizing.kv_bytes_per_token_per_device <= 0 || other >= mem.capacity)
        throw Error(strategy.label() + " leaves no memory for a KV cache: " + sizing.reason);
    m_kv_tokens = (mem.capacity - other) / sizing.kv_bytes_per_token_per_device;
    m_source = sizing.source;
}

double CostModelStepTime::decode_ms(double seqs, double context) const
{
    const auto [i, ti] = bracket(m_seqs, seqs);
    const auto [j, tj] = bracket(m_contexts, context);
    const std::size_t n = m_contexts.size();
    auto at = [&](std::size_t a, std::size_t b) {
        return m_decode[std::min(a, m_seqs.size() - 1) * n + std::min(b, n - 1)];
    };
    const double low = at(i, j) + tj * (at(i, j + 1) - at(i, j));
    const double high = at(i + 1, j) + tj * (at(i + 1, j + 1) - at(i + 1, j));
    return std::max(0.0, low + ti * (high - low));
}

double CostModelStepTime::prefill_ms(double tokens) const
{
    const auto [i, t] = bracket(m_chunks, tokens);
    const std::size_t j = std::min(i + 1, m_prefill.size() - 1);
    return std::max(0.0, m_prefill[i] + t * (m_prefill[j] - m_prefill[i]));
}

double CostModelStepTime::ms(const StepBatch& batch) const
{
    if (batch.prefill_tokens == 0 && batch.decode_seqs == 0)
        return 0;
    const double decode =
        batch.decode_seqs > 0 ? decode_ms(batch.decode_seqs, double(batch.decode_context) / batch.decode_seqs) : 0.0;
    if (batch.prefill_tokens == 0)
        return decode;
    return std::max(decode, prefill_ms(double(batch.prefill_tokens + batch.decode_seqs)));
}

} // namespace shard::serving
