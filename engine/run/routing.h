#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shard::run {

// Top-k routing shared by every executor: softmax over the experts, the k largest (ties to
// the lower expert index), weights renormalised over the chosen k.
struct Routing {
    std::vector<int> experts; // [rows, k]
    std::vector<float> weights; // [rows, k]
};
Routing route_tokens(std::span<const float> logits, std::int64_t rows, int experts, int k);

} // namespace shard::run
