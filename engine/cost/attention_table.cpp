#include "attention_table.h"

#include "perf_tables.h"

#include <cmath>

namespace shard {

namespace {

AttentionTable::Phase checked_phase(const CurveTable& table, AttentionTable::Phase phase, AttentionTable::Kernel kernel)
{
    const bool decode = phase == AttentionTable::Phase::Decode;
    require_columns(table, kernel == AttentionTable::Kernel::Mla
                               ? (decode ? "mla_generation" : "mla_context")
                               : (decode ? "attention_generation" : "attention_context"));
    return phase;
}

} // namespace

AttentionTable::AttentionTable(const CurveTable& table, Phase phase, Kernel kernel)
    : m_phase(checked_phase(table, phase, kernel))
{
    for (const auto& row : table.rows) {
        // Full causal attention of the TRT-LLM backend (or of the bundled engine, in a
        // machine's profile): sliding windows and the FlashInfer rows of other models are not
        // what the planner prices.
        if (kernel == Kernel::Standard
            && ((row.keys[0] != "torch_flow" && row.keys[0] != kEngineKernelSource)
                || int(table.integer_key(row, 4)) != 0))
            continue;
        Curve curve;
        for (std::size_t i = 0; i < row.ms.size(); ++i)
            if (!std::isnan(row.ms[i])) {
                // Decode: `step` cached tokens, the new one attends over step + 1.
                curve.x.push_back(table.axis_values[i] + (phase == Phase::Decode ? 1.0 : 0.0));
                curve.ms.push_back(row.ms[i]);
            }
        if (curve.x.empty())
            continue;
        if (kernel == Kernel::Mla) {
            // A head count measured twice (under two TP degrees) keeps its first row, as the
            // tables' own interpolator does.
            m_curves[{row.keys[1], "mla", 0, int(table.integer_key(row, 2)), 0}].try_emplace(
                int(table.integer_key(row, 4)), std::move(curve));
            continue;
        }
        m_curves[{row.keys[2], row.keys[1], int(table.integer_key(row, 3)), int(table.integer_key(row, 5)),
                  int(table.integer_key(row, 6))}][int(table.integer_key(row, 7))] = std::move(curve);
    }
}

std::optional<AttentionTable::Time> AttentionTable::along_tokens(const Curve& curve, double tokens) const
{
    const auto& x = curve.x;
    const bool decode = m_phase == Phase::Decode;
    if (tokens < x.front())
        return Time{curve.ms.front() * 1000.0, Provenance::Extrapolated};
    if (tokens > x.back()) {
        // Decode reads the cache (linear in its length); prefill's scores grow with its square.
        const double ratio = tokens / x.back();
        return Time{curve.ms.back() * (decode ? ratio : ratio * ratio) * 1000.0, Provenance::Extrapolated};
    }
    const std::size_t b = std::size_t(std::lower_bound(x.begin(), x.end(), tokens) - x.begin());
    if (x[b] == tokens)
        return Time{curve.ms[b] * 1000.0, Provenance::Measured};
    const std::size_t a = b - 1;
    const double t = (tokens - x[a]) / (x[b] - x[a]);
    const double ms = decode
                          ? curve.ms[a] + t * (curve.ms[b] - curve.ms[a])
                          : std::pow(std::sqrt(curve.ms[a]) + t * (std::sqrt(curve.ms[b]) - std::sqrt(curve.ms[a])), 2);
    return Time{ms * 1000.0, Provenance::Interpolated};
}

std::optional<AttentionTable::Time> AttentionTable::time(const std::string& kv_dtype, const std::string& compute_dtype,
                                                         int head_dim, int heads, int kv_heads, std::int64_t batch,
                                                         std::int64_t tokens) const
{
    if (batch <= 0 || tokens <= 0)
        return std::nullopt;
    const auto it = m_curves.find({kv_dtype, compute_dtype, head_dim, heads, kv_heads});
    if (it == m_curves.end())
        return std::nullopt;
    const auto& batches = it->second;
    const double n = double(tokens);
    if (const auto exact = batches.find(batch); exact != batches.end())
        return along_tokens(exact->second, n);
    const auto above = batches.upper_bound(batch);
    if (above == batches.end()) { // more sequences than measured: the largest batch, scaled
        const auto largest = std::prev(above);
        const auto t = along_tokens(largest->second, n);
        return Time{t->us * double(batch) / double(largest->first), Provenance::Extrapolated};
    }
    if (above == batches.begin()) // fewer than the smallest measured batch
        return Time{along_tokens(above->second, n)->us, Provenance::Extrapolated};
    const auto below = std::prev(above);
    const auto lo = along_tokens(below->second, n), hi = along_tokens(above->second, n);
    const double t = double(batch - below->first) / double(above->first - below->first);
    return Time{lo->us + t * (hi->us - lo->us),
                least_trusted(Provenance::Interpolated, least_trusted(lo->source, hi->source))};
}

} // namespace shard

namespace shard {

std::optional<AttentionTable::Time> AttentionTable::mla_time(const std::string& kv_dtype, int heads, std::int64_t batch,
                                                             std::int64_t tokens) const
{
    return time(kv_dtype, "mla", 0, heads, 0, batch, tokens);
}

} // namespace shard
