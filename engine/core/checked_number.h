#pragma once

#include <cstdint>
#include <string>

namespace shard {

// An inclusive range of a 64-bit integer the tool reads from a user.
struct IntRange {
    std::int64_t min;
    std::int64_t max;
    bool contains(std::int64_t value) const { return value >= min && value <= max; }
};

// How large each integer a user gives may be. Every reader (model JSON, config.json import,
// plans, topologies, CLI flags, the studio's fields) checks against these, so a value that
// would wrap when narrowed, or make the planner loop for hours, is refused by name. The
// bounds are far above any model or cluster built today and small enough that the planner's
// sums of them stay inside 64 bits.
namespace limits {
inline constexpr IntRange kLayers{1, 4096};
inline constexpr IntRange kHidden{1, 1 << 20};
inline constexpr IntRange kHeads{1, 1 << 16};
inline constexpr IntRange kHeadDim{1, 1 << 16};
inline constexpr IntRange kFfn{1, 1 << 24};
inline constexpr IntRange kVocab{1, 1 << 24};
inline constexpr IntRange kContext{1, 1 << 30}; // tokens a model can attend over
inline constexpr IntRange kNormsPerLayer{1, 16};
inline constexpr IntRange kExperts{1, 1 << 16};
inline constexpr IntRange kSharedExperts{0, 1 << 10};
inline constexpr IntRange kLayerIndex{0, kLayers.max};
inline constexpr IntRange kLoraRank{0, 1 << 16};
inline constexpr IntRange kBatch{1, 1 << 20}; // concurrent sequences
inline constexpr IntRange kPrompt{1, kContext.max}; // tokens per sequence
inline constexpr IntRange kGenerate{0, kContext.max};
inline constexpr IntRange kDecodeSteps{0, 1 << 20}; // a run's --steps
inline constexpr IntRange kMeshAxis{1, 1 << 16}; // pp, dp, ep and each tensor axis
inline constexpr IntRange kNodes{1, 1 << 16};
inline constexpr IntRange kGpusPerNode{1, 1 << 10};
inline constexpr IntRange kNicsPerNode{0, 1 << 10};
inline constexpr IntRange kSmCount{1, 1 << 16};
inline constexpr IntRange kGpuIndex{0, kNodes.max* kGpusPerNode.max};
inline constexpr IntRange kGemmDim{1, std::int64_t(1) << 30}; // one dimension of a priced GEMM
inline constexpr IntRange kCollectiveBytes{1, std::int64_t(1) << 40}; // one priced collective's buffer
inline constexpr IntRange kGroupGpus{2, 1 << 16}; // ranks of a priced collective
// A model above this many parameters (10^15, ten thousand times today's largest) is refused:
// below it every byte count the planner forms (parameters x bytes x copies) fits 64 bits.
inline constexpr std::int64_t kMaxParameters = 1'000'000'000'000'000;
// Tokens held at once (batch x (prompt + generate)); below it activations and logits of a
// step stay far inside 64 bits for any width above.
inline constexpr std::int64_t kMaxTokensInFlight = std::int64_t(1) << 36;
} // namespace limits

// Returns value when range holds it; otherwise throws Error: "<what> must be at most 4096, got 5000".
std::int64_t checked_in(std::int64_t value, IntRange range, const std::string& what);
// checked_in, narrowed to int (every range above fits an int).
int checked_int(std::int64_t value, IntRange range, const std::string& what);
// The message checked_in throws, for readers that add their own context; empty when in range.
std::string range_problem(std::int64_t value, IntRange range);

// a * b and a + b, or an Error "<what> overflows 64 bits" instead of a wrapped value.
std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& what);
std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what);

} // namespace shard
