#include "serving_metrics.h"

#include "core/error.h"
#include "core/units.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shard::serving {

void Slo::validate() const
{
    if (!(percentile > 0 && percentile <= 100))
        throw Error("the SLO percentile must be above 0 and at most 100, got " + format_fixed(percentile, 1));
    for (const auto& [name, value] :
         {std::pair{"TTFT", ttft_ms}, std::pair{"TPOT", tpot_ms}, std::pair{"end-to-end", e2e_ms}})
        if (value < 0 || !std::isfinite(value))
            throw Error(std::string("the ") + name + " SLO must be 0 (none) or a time in ms, got "
                        + format_fixed(value, 3));
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const double rank = p / 100.0 * double(values.size() - 1);
    const auto low = std::size_t(std::floor(rank));
    const std::size_t high = std::min(low + 1, values.size() - 1);
    return values[low] + (rank - double(low)) * (values[high] - values[low]);
}

namespace {

Percentiles percentiles(const std::vector<double>& v, double at_slo)
{
    Percentiles p;
    p.at_slo = percentile(v, at_slo);
    p.p50 = percentile(v, 50);
    p.p90 = percentile(v, 90);
    p.p99 = percentile(v, 99);
    p.mean = v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
    return p;
}

} // namespace

ServingSummary summarize(const ReplicaRun& run, const Slo& slo, std::int64_t kv_blocks)
{
    slo.validate();
    ServingSummary s;
    std::vector<double> ttft, tpot, e2e;
    int good = 0;
    double first = 0;
    bool any = false;
    std::int64_t tokens = 0;
    for (const RequestResult& r : run.requests) {
        ++s.requests;
        if (!any || r.arrival_s < first)
            first = r.arrival_s;
        any = true;
        if (r.rejected) {
            ++s.rejected;
            continue;
        }
        ttft.push_back(r.ttft_ms());
        if (r.output > 1)
            tpot.push_back(r.tpot_ms());
        e2e.push_back(r.e2e_ms());
        tokens += r.output;
        const bool ok = (slo.ttft_ms == 0 || r.ttft_ms() <= slo.ttft_ms)
                        && (slo.tpot_ms == 0 || r.tpot_ms() <= slo.tpot_ms)
                        && (slo.e2e_ms == 0 || r.e2e_ms() <= slo.e2e_ms);
        good += ok ? 1 : 0;
    }
    s.ttft_ms = percentiles(ttft, slo.percentile);
    s.tpot_ms = percentiles(tpot, slo.percentile);
    s.e2e_ms = percentiles(e2e, slo.percentile);
    s.span_s = run.end_s - first;
    if (s.span_s > 0) {
        s.requests_per_s = (s.requests - s.rejected) / s.span_s;
        s.output_tokens_per_s = double(tokens) / s.span_s;
        s.goodput_per_s = good / s.span_s;
    }
    s.slo_attainment = s.requests > 0 ? double(good) / s.requests : 0;
    s.tokens_per_s_per_user = s.tpot_ms.mean > 0 ? 1000.0 / s.tpot_ms.mean : 0;
    s.preemptions = run.preemptions;
    const std::int64_t admitted = run.prefill_tokens + run.prefix_hit_tokens;
    s.prefix_hit_share = admitted > 0 ? double(run.prefix_hit_tokens) / double(admitted) : 0;
    s.peak_kv_share = kv_blocks > 0 ? double(run.peak_kv_blocks) / double(kv_blocks) : 0;
    s.mean_in_system = run.mean_in_system;
    auto check = [&](const char* name, double limit, const Percentiles& p) {
        const double got = p.at_slo;
        if (limit > 0 && got > limit)
            s.failing.push_back(std::string(name) + " p" + format_fixed(slo.percentile, 0) + " " + format_fixed(got, 1)
                                + " ms > " + format_fixed(limit, 1) + " ms");
    };
    check("TTFT", slo.ttft_ms, s.ttft_ms);
    check("TPOT", slo.tpot_ms, s.tpot_ms);
    check("end-to-end", slo.e2e_ms, s.e2e_ms);
    if (s.rejected > 0)
        s.failing.push_back(std::to_string(s.rejected) + " requests too long for the KV cache");
    s.meets_slo = s.failing.empty();
    return s;
}

} // namespace shard::serving
