#pragma once

#include "cost_types.h"
#include "curve_table.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace shard {

// The measured fused MoE layer of one expert-parallel rank (resources/perfdb/<system>/moe.csv):
// routing, token permutation, the local experts' FC1, activation and FC2, and the weighted
// combine, without the gate GEMM and without any all-to-all. One curve over the tokens that
// enter the layer (all tokens of the expert-parallel group; the rank computes its experts'
// share) per model shape, quantization and (expert TP, EP) split. The shipped rows are the
// balanced routing the planner assumes where the GPU has it (a100_sxm measured only power-law
// routing: its times are the most-loaded rank's).
class MoeTable {
public:
    struct Shape {
        std::int64_t hidden = 0;
        std::int64_t inter = 0; // per expert, before the expert-TP split
        int topk = 0;
        int experts = 0; // routed experts in the model
        int expert_tp = 1;
        int ep = 1;
        bool gated = true; // SwiGLU (FC1 2 x inter wide) rather than a plain activation
    };
    struct Time {
        double us = 0;
        Provenance source = Provenance::Measured;
    };

    explicit MoeTable(const CurveTable& table);

    // `quant` as the table spells it ("bfloat16", "fp8", "fp8_block", "nvfp4"); `tokens` enter
    // the layer across the expert-parallel group. Shapes or splits without a curve: nullopt.
    std::optional<Time> time(const std::string& quant, const Shape& shape, std::int64_t tokens) const;

private:
    struct Curve {
        std::vector<double> x, ms;
    };
    using Key = std::tuple<std::string, bool, std::int64_t, std::int64_t, int, int, int, int>;
    std::map<Key, Curve> m_curves;
};

} // namespace shard
