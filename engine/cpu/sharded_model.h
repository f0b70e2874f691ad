#pragma once

#include "rank_model.h"
#include "reference_model.h"
#include "run/communicator.h"
#include "run/model_weights.h"
#include "vocab_head.h"

#include "core/strategy.h"
#include "cost/shard_geometry.h"

#include <optional>

namespace shard::cpu {

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

// Why the CPU executor cannot run a (valid) layout yet, or empty.
std::string cpu_unsupported_layout(const ModelSpec& model, const Strategy& strategy);

// One rank's shard of a model under a 1D strategy (none, column, row, Megatron, Megatron
// with sequence parallelism, attention data parallel), with pipeline stages, replicas and
// expert parallelism. It runs the same collectives, in the same order and sizes, as the
// planner's StepBuilder predicts for the strategy.
class ShardedModel final : public RankModel {
public:
    ShardedModel(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry, RankPlace place,
                 RankComms comms, int max_context, RankLog* log = nullptr);
    ~ShardedModel() override;

    // One microbatch: `seqs` sequences (replica-local indices first_seq...) of T tokens at
    // `position`. Stage 0 reads `tokens`; later stages receive activations. The last stage
    // returns the final hidden states and greedy tokens of its sequences.
    std::optional<StepOutput> step(const std::vector<std::int64_t>& tokens, int first_seq, int seqs,
                                   std::int64_t position, int T) override;

    struct Layer;

private:
    void embed(std::vector<float>& x, const std::vector<std::int64_t>& tokens, std::int64_t rows, std::int64_t position,
               int T);
    void attention_block(Layer& layer, std::vector<float>& x, int first_seq, int seqs, std::int64_t position, int T,
                         bool moe_follows);
    void mlp_block(Layer& layer, std::vector<float>& x, std::int64_t rows);
    void moe_block(Layer& layer, std::vector<float>& x, std::int64_t rows);
    StepOutput head(std::vector<float>& x, int seqs, int T);
    std::int64_t local_rows(std::int64_t rows) const;

    const ModelWeights& m_weights;
    const ModelSpec& m_model;
    Strategy m_strategy;
    ShardGeometry m_geometry;
    RankPlace m_place;
    RankComms m_comms;
    int m_maxContext;
    RankLog* m_log;
    int m_t = 1;
    int m_firstLayer = 0;
    int m_layerCount = 0;
    bool m_sequenceSharded = false; // SP or attention-DP: activations hold a 1/t share of rows
    bool m_moeRowsSharded = false; // Megatron attention feeding expert parallelism: padded row shards
    std::vector<Layer> m_layers;
    Matrix m_embed; // this rank's vocabulary rows (padded)
    std::int64_t m_vocabBegin = 0;
    VocabParallelHead m_head;
};

} // namespace shard::cpu
