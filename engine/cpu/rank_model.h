#pragma once

#include "reference_model.h"
#include "vocab_head.h"

#include "core/strategy.h"
#include "cost/shard_geometry.h"
#include "run/communicator.h"
#include "run/model_weights.h"

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

// Where a rank sits in the mesh [pp, dp, tensor].
struct RankPlace {
    int position = 0;
    int stage = 0;
    int replica = 0;
    int tensor = 0; // index inside the tensor group
};

// The communicators a rank takes part in; null where the group has one member.
struct RankComms {
    Communicator* tp = nullptr; // the tensor group (1D), or every device of a 2D/3D grid
    Communicator* row = nullptr; // 2D/3D: devices that differ in the column index (axis tp_col)
    Communicator* col = nullptr; // 2D/3D: devices that differ in the row index (axis tp_row)
    Communicator* depth = nullptr; // 2.5D/3D: devices that differ in the depth / z index
    Communicator* ep = nullptr; // expert-parallel group
    Communicator* etp = nullptr; // expert tensor-parallel group (EP x TP)
    Communicator* routing = nullptr; // the same members, for routing metadata (control)
    Communicator* prev = nullptr; // pair with the previous stage (this rank is member 1)
    Communicator* next = nullptr; // pair with the next stage (this rank is member 0)
};

// What every rank's model keeps: the weights it slices, the run's strategy and geometry,
// where the rank sits, the groups it talks in, its KV cache length, the log its ops go to,
// and its slice of the vocabulary-parallel head.
class RankModelBase : public RankModel {
protected:
    RankModelBase(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry, RankPlace place,
                  RankComms comms, int max_context, RankLog* log)
        : m_weights(weights)
        , m_model(weights.model())
        , m_strategy(strategy)
        , m_geometry(geometry)
        , m_place(place)
        , m_comms(comms)
        , m_maxContext(max_context)
        , m_log(log)
        , m_head(weights, geometry.vocab_padded, strategy.tensor_size(), place.tensor)
    { }

    const ModelWeights& m_weights;
    const ModelSpec& m_model;
    Strategy m_strategy;
    ShardGeometry m_geometry;
    RankPlace m_place;
    RankComms m_comms;
    int m_maxContext;
    RankLog* m_log;
    VocabParallelHead m_head;
};

} // namespace shard::cpu
