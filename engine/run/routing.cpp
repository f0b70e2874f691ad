#include "routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shard::run {

Routing route_tokens(std::span<const float> logits, std::int64_t rows, int experts, int k)
{
    Routing r;
    r.experts.resize(std::size_t(rows * k));
    r.weights.resize(std::size_t(rows * k));
    std::vector<int> order(experts);
    std::vector<double> p(experts);
    for (std::int64_t i = 0; i < rows; ++i) {
        const float* l = logits.data() + i * experts;
        const float best = *std::max_element(l, l + experts);
        for (int e = 0; e < experts; ++e)
            p[e] = std::exp(double(l[e] - best)); // unnormalised: only the chosen k are renormalised
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
        double chosen = 0;
        for (int j = 0; j < k; ++j)
            chosen += p[order[j]];
        for (int j = 0; j < k; ++j) {
            r.experts[i * k + j] = order[j];
            r.weights[i * k + j] = float(p[order[j]] / chosen);
        }
    }
    return r;
}

} // namespace shard::run
