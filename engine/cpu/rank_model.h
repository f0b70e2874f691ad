#pragma once

#include "reference_model.h"

#include <optional>

namespace shard::cpu {

// One rank's part of a sharded model: 1D layouts (ShardedModel) or 2D / 2.5D / 3D grids
// (GridModel). The executor drives every rank the same way.
class RankModel {
public:
    virtual ~RankModel() = default;
    // One microbatch of `seqs` replica sequences (first_seq...) of T tokens at `position`;
    // the last stage returns the final hidden states and greedy tokens.
    virtual std::optional<StepOutput> step(const std::vector<std::int64_t>& tokens, int first_seq, int seqs,
                                           std::int64_t position, int T) = 0;
};

} // namespace shard::cpu
