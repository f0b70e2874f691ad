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

// Why the CPU executor cannot run a (valid) layout yet, or empty.
std::string cpu_unsupported_layout(const ModelSpec& model, const Strategy& strategy);

// One rank's shard of a model under a 1D strategy (none, column, row, Megatron, Megatron
// with sequence parallelism, attention data parallel), with pipeline stages, replicas and
// expert parallelism. It runs the same collectives, in the same order and sizes, as the
// planner's StepBuilder predicts for the strategy.
class ShardedModel final : public RankModelBase {
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

    int m_t = 1;
    int m_firstLayer = 0;
    int m_layerCount = 0;
    bool m_sequenceSharded = false; // SP or attention-DP: activations hold a 1/t share of rows
    bool m_moeRowsSharded = false; // Megatron attention feeding expert parallelism: padded row shards
    std::vector<Layer> m_layers;
    Matrix m_embed; // this rank's vocabulary rows (padded)
    std::int64_t m_vocabBegin = 0;
};

} // namespace shard::cpu
