#pragma once

#include "rank_model.h"
#include "run/grid_layout.h"
#include "sharded_model.h"

namespace shard::cpu {

// One rank's shard of a dense model under a 2D / 2.5D / 3D layout: SUMMA (q x q),
// weight-stationary (q1 x q2), Tesseract (d x q x q) and the 3D cube (q^3), with the
// collectives the planner's layer_grid recipes predict, in the same sizes.
class GridModel final : public RankModelBase {
public:
    GridModel(const ModelWeights& weights, const Strategy& strategy, const ShardGeometry& geometry, RankPlace place,
              RankComms comms, int max_context, RankLog* log = nullptr);
    ~GridModel() override;

    std::optional<StepOutput> step(const std::vector<std::int64_t>& tokens, int first_seq, int seqs,
                                   std::int64_t position, int T) override;

    struct Layer;

private:
    using Vec = std::vector<float>;
    int row_block() const { return m_grid.row_block(); }
    int col_chunk() const { return m_grid.col_chunk(); }
    void grid_norm(Vec& x, const Matrix& weight, const Matrix& bias, std::int64_t rows) const;
    // What a linear is, for the op timings: name, planner op kind, layer.
    struct OpName {
        const char* name;
        const char* kind;
        int layer;
    };
    Vec linear(const Vec& x, const Matrix& w, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
               OpName op);
    void attention(Layer& layer, Vec& qkv, Vec& out, int first_seq, std::int64_t position, int T);
    StepOutput head(const Vec& x, int seqs, int T);

    TensorMode m_mode;
    GridLayout m_grid;
    int m_q = 1, m_q1 = 1, m_q2 = 1, m_depth = 1; // grid sizes
    int m_i = 0, m_j = 0, m_l = 0; // this rank's coordinates
    int m_firstLayer = 0;
    std::vector<Layer> m_layers;
    Matrix m_embed; // [vocab, hidden chunk]
    Matrix m_positions; // learned positions, [context, hidden chunk]
};

} // namespace shard::cpu
