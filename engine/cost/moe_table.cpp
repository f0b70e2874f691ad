#include "moe_table.h"

#include "perf_tables.h"

#include <algorithm>
#include <cmath>

namespace shard {

MoeTable::MoeTable(const CurveTable& table)
{
    require_columns(table, "moe");
    for (const auto& row : table.rows) {
        // The low-latency kernel skips the finalize step: not the whole layer.
        if (row.keys[0] == "moe_torch_flow_min_latency")
            continue;
        Curve curve;
        for (std::size_t i = 0; i < row.ms.size(); ++i)
            if (!std::isnan(row.ms[i])) {
                curve.x.push_back(table.axis_values[i]);
                curve.ms.push_back(row.ms[i]);
            }
        if (curve.x.empty())
            continue;
        const bool gated = row.keys[0] != "moe_torch_flow_nongated";
        const Key key{row.keys[1],
                      gated,
                      table.integer_key(row, 3),
                      table.integer_key(row, 4),
                      int(table.integer_key(row, 5)),
                      int(table.integer_key(row, 6)),
                      int(table.integer_key(row, 7)),
                      int(table.integer_key(row, 8))};
        m_curves.try_emplace(key, std::move(curve)); // the first of a repeated curve, as measured first
    }
}

std::optional<MoeTable::Time> MoeTable::time(const std::string& quant, const Shape& s, std::int64_t tokens) const
{
    if (tokens <= 0)
        return std::nullopt;
    const auto it = m_curves.find(Key{quant, s.gated, s.hidden, s.inter, s.topk, s.experts, s.expert_tp, s.ep});
    if (it == m_curves.end())
        return std::nullopt;
    const auto& x = it->second.x;
    const auto& ms = it->second.ms;
    const double n = double(tokens);
    if (n < x.front()) // fewer tokens than measured: the launch-bound floor
        return Time{ms.front() * 1000.0, Provenance::Extrapolated};
    if (n > x.back()) // more: the largest batch's time per token (the GEMMs are compute bound there)
        return Time{ms.back() * n / x.back() * 1000.0, Provenance::Extrapolated};
    const std::size_t b = std::size_t(std::lower_bound(x.begin(), x.end(), n) - x.begin());
    if (x[b] == n)
        return Time{ms[b] * 1000.0, Provenance::Measured};
    const double t = (n - x[b - 1]) / (x[b] - x[b - 1]);
    return Time{(ms[b - 1] + t * (ms[b] - ms[b - 1])) * 1000.0, Provenance::Interpolated};
}

} // namespace shard
