#pragma once

#include "cost_types.h"
#include "curve_table.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace shard {

// The measured attention kernel of one phase (resources/perfdb/<system>/attention_*.csv): one
// curve over the sequence axis (decode: tokens already cached; prefill: prompt tokens) per
// (KV-cache dtype, compute dtype, head dim, heads and KV heads on the GPU, batch). A query
// interpolates between the two measured batches around it and, on each, between the two
// measured sequence lengths around it: raw time for decode (it grows with the cache read),
// sqrt(time) for prefill (it grows with the square of the prompt). Past the measured
// sequences it scales the edge by the sequence ratio (decode) or its square (prefill); past
// the largest batch by the batch ratio. Shapes it has no curve for answer nullopt.
// The MLA tables (mla_context.csv, mla_generation.csv) have the same axes for DeepSeek-V3's
// latent attention kernel alone (kv_lora_rank 512, qk_rope 64, qk_nope 128, v_head 128),
// keyed by the heads on the GPU and the KV-cache dtype.
class AttentionTable {
public:
    enum class Phase { Prefill, Decode };
    enum class Kernel { Standard, Mla };
    struct Time {
        double us = 0;
        Provenance source = Provenance::Measured;
    };

    AttentionTable(const CurveTable& table, Phase phase, Kernel kernel = Kernel::Standard);

    // `kv_dtype` and `compute_dtype` as the tables spell them ("bfloat16", "fp8"); `tokens` is
    // the context a decode token attends over, or the prompt length of a prefill.
    std::optional<Time> time(const std::string& kv_dtype, const std::string& compute_dtype, int head_dim, int heads,
                             int kv_heads, std::int64_t batch, std::int64_t tokens) const;
    // The MLA kernel (a table built with Kernel::Mla): `heads` query heads on the GPU.
    std::optional<Time> mla_time(const std::string& kv_dtype, int heads, std::int64_t batch, std::int64_t tokens) const;

private:
    struct Curve {
        std::vector<double> x, ms;
    };
    std::optional<Time> along_tokens(const Curve& curve, double tokens) const;

    Phase m_phase;
    // (kv dtype, compute dtype, head dim, heads, kv heads) -> batch -> curve over tokens
    std::map<std::tuple<std::string, std::string, int, int, int>, std::map<std::int64_t, Curve>> m_curves;
};

} // namespace shard
